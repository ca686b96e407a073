#include "target/cli.hpp"

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <boost/program_options.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include "admin/client.hpp"
#include "config/config.hpp"
#include "swift/swift_store.hpp"
#include "target/config_edit.hpp"
#include "target/swift_wiring.hpp"

namespace swiftness::target {

namespace po = boost::program_options;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kDefaultConfig = "/etc/swiftness/swiftness.yaml";

std::string human(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (std::fabs(bytes) >= 1024 && u < 5) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
  return buf;
}

std::string duration(double s) {
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else
    std::snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, int(s) / 60 % 60);
  return buf;
}

// A progress bar with rate and ETA on a terminal; plain lines (at most one every 2 s, and the
// last) when stdout is a file or a pipe, so logs stay readable.
class Progress {
 public:
  Progress(std::string what, uint64_t total)
      : what_(std::move(what)), total_(total), tty_(::isatty(STDOUT_FILENO)) {}
  void update(uint64_t done, bool last = false) {
    const auto now = Clock::now();
    const auto every = tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(2000);
    if (!last && now - shown_ < every) return;
    shown_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double rate = secs > 0 ? double(done) / secs : 0;
    const double frac = total_ ? std::min(1.0, double(done) / double(total_)) : 1.0;
    std::string eta = rate > 0 && done < total_ ? duration(double(total_ - done) / rate) : "-";
    char tail[160];
    std::snprintf(tail, sizeof tail, "%5.1f%% %s / %s  %s/s  %s %s", frac * 100,
                  human(double(done)).c_str(), human(double(total_)).c_str(), human(rate).c_str(),
                  last ? "in" : "ETA", last ? duration(secs).c_str() : eta.c_str());
    if (tty_) {
      const int width = 30;
      const int fill = int(frac * width);
      std::string bar =
          "[" + std::string(size_t(fill), '#') + std::string(size_t(width - fill), ' ') + "]";
      std::cout << "\r" << what_ << " " << bar << " " << tail << "\033[K" << (last ? "\n" : "")
                << std::flush;
    } else {
      std::cout << what_ << ": " << tail << "\n" << std::flush;
    }
  }
  void finish(uint64_t done) { update(done, true); }

 private:
  std::string what_;
  uint64_t total_;
  bool tty_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point shown_{};
};

struct Common {
  std::string config_path = kDefaultConfig;
  std::string socket;
};

void add_common(po::options_description& d, Common& c) {
  d.add_options()("config,c", po::value(&c.config_path), "configuration file")(
      "socket", po::value(&c.socket), "admin socket (default: from the configuration)");
}

std::optional<config::Config> load_config(const std::string& path) {
  auto r = config::load_file(path);
  for (const auto& e : r.errors)
    std::cerr << "error: " << e.to_string() << "\n";
  return r.config;
}

std::optional<admin::Endpoint> endpoint(const Common& c) {
  admin::Endpoint ep;
  if (!c.socket.empty()) {
    ep.socket_path = c.socket;
    return ep;
  }
  auto cfg = load_config(c.config_path);
  if (!cfg) return std::nullopt;
  ep.socket_path = cfg->admin.socket;
  if (ep.socket_path.empty() && cfg->admin.http) {
    ep.tcp_address = cfg->admin.http->address;
    ep.tcp_port = cfg->admin.http->port;
  }
  if (ep.socket_path.empty() && ep.tcp_address.empty()) {
    std::cerr << "swiftness: the configuration has no admin endpoint (admin.socket)\n";
    return std::nullopt;
  }
  return ep;
}

// The daemon's answer as JSON, or a message on stderr and nullopt.
std::optional<json::value> call_json(const admin::Endpoint& ep, const std::string& method,
                                     const std::string& target, int want) {
  admin::Client client(ep);
  auto r = client.call(method, target);
  if (!r) {
    std::cerr << "swiftness: cannot reach the daemon at " << ep.describe() << ": "
              << r.error().message() << "\n";
    return std::nullopt;
  }
  boost::system::error_code ec;
  json::value v = json::parse(r->body, ec);
  if (r->status != want) {
    std::string msg = r->body;
    if (!ec && v.is_object() && v.as_object().contains("error"))
      msg = json::value_to<std::string>(v.at("error"));
    std::cerr << "swiftness: " << method << " " << target << ": " << r->status << " " << msg
              << "\n";
    return std::nullopt;
  }
  if (ec) {
    std::cerr << "swiftness: the daemon's answer is not JSON\n";
    return std::nullopt;
  }
  return v;
}

uint64_t u64(const json::value& o, const char* key) {
  if (!o.is_object() || !o.as_object().contains(key)) return 0;
  const auto& v = o.at(key);
  if (v.is_uint64()) return v.as_uint64();
  if (v.is_int64()) return uint64_t(std::max<int64_t>(0, v.as_int64()));
  if (v.is_double()) return uint64_t(std::max(0.0, v.as_double()));
  return 0;
}

std::string str(const json::value& o, const char* key) {
  if (!o.is_object() || !o.as_object().contains(key) || !o.at(key).is_string()) return {};
  return std::string(o.at(key).as_string());
}

bool parse(const std::vector<std::string>& args, po::options_description& d,
           po::positional_options_description& pos, po::variables_map& vm) {
  try {
    po::store(po::command_line_parser(args).options(d).positional(pos).run(), vm);
    po::notify(vm);
    return true;
  } catch (const po::error& e) {
    std::cerr << "swiftness: " << e.what() << "\n" << d;
    return false;
  }
}

bool plain_name(const std::string& n) {
  if (n.empty() || n.size() > 128) return false;
  for (char c : n)
    if (!(std::isalnum(uint8_t(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

// ---- lun list / cache status ----

int lun_list(const std::vector<std::string>& args) {
  Common c;
  po::options_description d("swiftness lun list");
  add_common(d, c);
  po::positional_options_description pos;
  po::variables_map vm;
  if (!parse(args, d, pos, vm)) return 2;
  auto ep = endpoint(c);
  if (!ep) return 2;
  auto st = call_json(*ep, "GET", "/status", 200);
  if (!st) return 1;
  std::printf("%-4s %-16s %-7s %12s %12s %12s %8s  %s\n", "ID", "NAME", "BACKEND", "SIZE",
              "IN SWIFT", "DIRTY", "SESSIONS", "CONTAINER/PATH");
  for (const auto& l : st->at("luns").as_array()) {
    const bool sw = str(l, "backend") == "swift";
    std::printf(
        "%-4llu %-16s %-7s %12s %12s %12s %8llu  %s\n", (unsigned long long)u64(l, "id"),
        str(l, "name").c_str(), str(l, "backend").c_str(), human(double(u64(l, "size"))).c_str(),
        sw ? human(double(u64(l, "bytes_in_swift"))).c_str() : "-",
        human(double(u64(l, "dirty_bytes"))).c_str(), (unsigned long long)u64(l, "sessions"),
        (sw ? str(l, "container") : str(l, "path")).c_str());
  }
  return 0;
}

int cache_status(const std::vector<std::string>& args) {
  Common c;
  po::options_description d("swiftness cache status");
  add_common(d, c);
  po::positional_options_description pos;
  po::variables_map vm;
  if (!parse(args, d, pos, vm)) return 2;
  auto ep = endpoint(c);
  if (!ep) return 2;
  auto st = call_json(*ep, "GET", "/status", 200);
  if (!st) return 1;
  const auto& cache = st->at("cache");
  std::printf("cache %s: %s configured, %s used, %s dirty\n", str(cache, "path").c_str(),
              human(double(u64(cache, "size_bytes"))).c_str(),
              human(double(u64(cache, "used_bytes"))).c_str(),
              human(double(u64(cache, "dirty_bytes"))).c_str());
  std::printf("%-16s %12s %12s %12s  %s\n", "LUN", "CACHE", "USED", "DIRTY", "DRAIN");
  for (const auto& l : st->at("luns").as_array()) {
    if (str(l, "backend") != "swift") continue;
    const auto& lc = l.at("cache");
    const auto& dr = l.at("drain");
    std::string drain = str(dr, "state");
    if (!str(dr, "error").empty()) drain += " (" + str(dr, "error") + ")";
    std::printf("%-16s %12s %12s %12s  %s\n", str(l, "name").c_str(),
                human(double(u64(lc, "size_bytes"))).c_str(),
                human(double(u64(lc, "used_bytes"))).c_str(),
                human(double(u64(lc, "dirty_bytes"))).c_str(), drain.c_str());
  }
  return 0;
}

// ---- cache drain ----

int cache_drain(const std::vector<std::string>& args) {
  Common c;
  std::string lun;
  unsigned timeout_s = 3600;
  po::options_description d("swiftness cache drain [LUN]");
  add_common(d, c);
  d.add_options()("lun", po::value(&lun), "LUN id or name (default: all)")(
      "timeout", po::value(&timeout_s), "give up after this many seconds (default 3600)");
  po::positional_options_description pos;
  pos.add("lun", 1);
  po::variables_map vm;
  if (!parse(args, d, pos, vm)) return 2;
  if (!lun.empty() && !plain_name(lun)) {
    std::cerr << "swiftness: not a LUN name: " << lun << "\n";
    return 2;
  }
  auto ep = endpoint(c);
  if (!ep) return 2;
  std::string target = "/drain?timeout_s=" + std::to_string(timeout_s);
  if (!lun.empty()) target += "&lun=" + lun;
  auto started = call_json(*ep, "POST", target, 202);
  if (!started) return 1;
  std::set<std::string> names;
  for (const auto& n : started->at("draining").as_array())
    names.insert(std::string(n.as_string()));
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s + 10);
  std::optional<Progress> bar;
  for (;;) {
    auto st = call_json(*ep, "GET", "/status", 200);
    if (!st) return 1;
    uint64_t start = 0, dirty = 0;
    bool running = false;
    std::vector<std::string> failed;
    for (const auto& l : st->at("luns").as_array()) {
      if (!names.count(str(l, "name"))) continue;
      const auto& dr = l.at("drain");
      start += u64(dr, "start_dirty_bytes");
      dirty += u64(dr, "dirty_bytes");
      const std::string state = str(dr, "state");
      running |= state == "running";
      if (state == "failed") failed.push_back(str(l, "name") + ": " + str(dr, "error"));
    }
    if (!bar) bar.emplace("drain", start);
    const uint64_t done = start > dirty ? start - dirty : 0;
    if (!running) {
      bar->finish(failed.empty() ? start : done);
      for (const auto& f : failed)
        std::cerr << "swiftness: drain failed: " << f << "\n";
      if (failed.empty()) std::cout << "drained: Swift holds everything that was dirty\n";
      return failed.empty() ? 0 : 1;
    }
    bar->update(done);
    if (Clock::now() > deadline) {
      std::cerr << "swiftness: the drain did not finish in time\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// ---- lun import / export ----

int lun_import(const std::vector<std::string>& args) {
  Common c;
  std::string name, file;
  po::options_description d("swiftness lun import NAME FILE");
  add_common(d, c);
  d.add_options()("name", po::value(&name)->required(), "LUN name or id")(
      "file", po::value(&file)->required(), "raw disk image")(
      "force", "import even while iSCSI sessions are logged in");
  po::positional_options_description pos;
  pos.add("name", 1).add("file", 1);
  po::variables_map vm;
  if (!parse(args, d, pos, vm)) return 2;
  if (!plain_name(name)) {
    std::cerr << "swiftness: not a LUN name: " << name << "\n";
    return 2;
  }
  std::ifstream in(file, std::ios::binary);
  std::error_code fec;
  const uint64_t size = std::filesystem::file_size(file, fec);
  if (!in || fec) {
    std::cerr << "swiftness: cannot read " << file << "\n";
    return 1;
  }
  auto ep = endpoint(c);
  if (!ep) return 2;
  Progress bar("import " + name, size);
  admin::Client client(*ep);
  std::string target = "/luns/" + name + "/image";
  if (vm.count("force")) target += "?force=1";
  auto r = client.upload(target, in, size, [&](uint64_t done) { bar.update(done); });
  if (!r) {
    std::cerr << "\nswiftness: import failed: " << r.error().message() << "\n";
    return 1;
  }
  if (r->status != 200) {
    std::cerr << "\nswiftness: import refused (" << r->status << "): " << r->body;
    return 1;
  }
  bar.finish(size);
  std::cout << "imported " << size << " bytes into " << name
            << " (durable in the cache; `swiftness cache drain " << name
            << "` waits until Swift has it)\n";
  return 0;
}

int lun_export(const std::vector<std::string>& args) {
  Common c;
  std::string name, file;
  po::options_description d("swiftness lun export NAME FILE");
  add_common(d, c);
  d.add_options()("name", po::value(&name)->required(), "LUN name or id")(
      "file", po::value(&file)->required(), "raw disk image to write");
  po::positional_options_description pos;
  pos.add("name", 1).add("file", 1);
  po::variables_map vm;
  if (!parse(args, d, pos, vm)) return 2;
  if (!plain_name(name)) {
    std::cerr << "swiftness: not a LUN name: " << name << "\n";
    return 2;
  }
  auto ep = endpoint(c);
  if (!ep) return 2;
  const std::string part = file + ".part";
  std::ofstream out(part, std::ios::binary | std::ios::trunc);
  if (!out) {
    std::cerr << "swiftness: cannot write " << part << "\n";
    return 1;
  }
  std::optional<Progress> bar;
  uint64_t total = 0;
  admin::Client client(*ep);
  auto r = client.download(
      "/luns/" + name + "/image", out,
      [&](uint64_t len) {
        total = len;
        bar.emplace("export " + name, len);
      },
      [&](uint64_t done) { bar->update(done); });
  out.close();
  std::error_code ec;
  if (!r || r->status != 200 || !out) {
    std::filesystem::remove(part, ec);
    if (!r)
      std::cerr << "\nswiftness: export failed: " << r.error().message() << "\n";
    else
      std::cerr << "\nswiftness: export refused (" << r->status << "): " << r->body;
    return 1;
  }
  std::filesystem::rename(part, file, ec);
  if (ec) {
    std::cerr << "swiftness: cannot rename " << part << ": " << ec.message() << "\n";
    return 1;
  }
  if (bar) bar->finish(total);
  std::cout << "exported " << total << " bytes of " << name << " to " << file << "\n";
  return 0;
}

// ---- lun create / resize (configuration edits) ----

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int lun_create(const std::vector<std::string>& args) {
  Common c;
  NewLun n;
  po::options_description d("swiftness lun create NAME --size SIZE");
  add_common(d, c);
  d.add_options()("name", po::value(&n.name)->required(), "LUN name")(
      "size", po::value(&n.size)->required(), "size, e.g. 100GiB")(
      "container", po::value(&n.container), "Swift container (default: the name)")(
      "block-size", po::value(&n.block_size), "512 or 4096")("chunk-size", po::value(&n.chunk_size),
                                                             "Swift object size, 1MiB to 64MiB")(
      "storage-policy", po::value(&n.storage_policy), "Swift storage policy of the container");
  po::positional_options_description pos;
  pos.add("name", 1);
  po::variables_map vm;
  if (!parse(args, d, pos, vm)) return 2;
  if (!plain_name(n.name)) {
    std::cerr << "swiftness: a LUN name is letters, digits, '-', '_' and '.'\n";
    return 2;
  }
  auto text = read_text(c.config_path);
  if (!text) {
    std::cerr << "swiftness: cannot read " << c.config_path << "\n";
    return 2;
  }
  auto edit = add_lun(*text, c.config_path, n);
  if (!edit.error.empty()) {
    std::cerr << "swiftness: " << edit.error << (edit.error.ends_with("\n") ? "" : "\n");
    return 2;
  }
  auto cfg = config::load_string(edit.text, c.config_path).config;
  const config::Lun& lun = cfg->luns.back();
  // The container first: a configuration naming a container that cannot be created helps nobody.
  {
    boost::asio::io_context io;
    auto store = std::make_shared<swift::SwiftStore>(io.get_executor(), swift_config(*cfg->swift));
    const std::string container = lun.container;
    const std::string policy = lun.storage_policy;
    auto fut = boost::asio::co_spawn(io, store->create_container(container, policy),
                                     boost::asio::use_future);
    io.run();
    auto r = fut.get();
    if (!r) {
      std::cerr << "swiftness: cannot create container " << container << ": " << r.error().message()
                << "\n";
      return 1;
    }
  }
  if (auto w = replace_file(c.config_path, edit.text); !w) {
    std::cerr << "swiftness: cannot write " << c.config_path << ": " << w.error().message() << "\n";
    return 1;
  }
  std::cout << "LUN " << lun.name << " (id " << lun.id << ", " << human(double(lun.size))
            << ") added to " << c.config_path << "; container " << lun.container
            << " created. A running daemon attaches it when it reloads (SIGHUP).\n";
  return 0;
}

int lun_resize(const std::vector<std::string>& args) {
  Common c;
  std::string name, size;
  po::options_description d("swiftness lun resize NAME --size SIZE");
  add_common(d, c);
  d.add_options()("name", po::value(&name)->required(), "LUN name")(
      "size", po::value(&size)->required(), "new size (grow only), e.g. 200GiB");
  po::positional_options_description pos;
  pos.add("name", 1);
  po::variables_map vm;
  if (!parse(args, d, pos, vm)) return 2;
  auto text = read_text(c.config_path);
  if (!text) {
    std::cerr << "swiftness: cannot read " << c.config_path << "\n";
    return 2;
  }
  auto edit = set_lun_size(*text, c.config_path, name, size);
  if (!edit.error.empty()) {
    std::cerr << "swiftness: " << edit.error << (edit.error.ends_with("\n") ? "" : "\n");
    return 2;
  }
  if (auto w = replace_file(c.config_path, edit.text); !w) {
    std::cerr << "swiftness: cannot write " << c.config_path << ": " << w.error().message() << "\n";
    return 1;
  }
  std::cout << "LUN " << name << " is now " << size << " in " << c.config_path
            << "; the daemon grows it when it attaches the LUN again (restart), and initiators "
               "then read the new capacity.\n";
  return 0;
}

constexpr const char* kLunUsage =
    "usage: swiftness lun list | create NAME --size S | import NAME FILE | export NAME FILE |\n"
    "                     resize NAME --size S   [--config FILE] [--socket PATH]\n";
constexpr const char* kCacheUsage =
    "usage: swiftness cache status | drain [LUN] [--timeout S]   [--config FILE] [--socket PATH]\n";

}  // namespace

int run_cli(const std::string& group, const std::vector<std::string>& args) {
  const std::string sub = args.empty() ? "" : args[0];
  const std::vector<std::string> rest(args.begin() + (args.empty() ? 0 : 1), args.end());
  if (group == "lun") {
    if (sub == "list") return lun_list(rest);
    if (sub == "create") return lun_create(rest);
    if (sub == "import") return lun_import(rest);
    if (sub == "export") return lun_export(rest);
    if (sub == "resize") return lun_resize(rest);
    std::cerr << kLunUsage;
    return 2;
  }
  if (group == "cache") {
    if (sub == "status") return cache_status(rest);
    if (sub == "drain") return cache_drain(rest);
    std::cerr << kCacheUsage;
    return 2;
  }
  return 2;
}

}  // namespace swiftness::target
