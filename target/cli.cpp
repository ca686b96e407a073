#include "target/cli.hpp"

#include <unistd.h>

#include <boost/json.hpp>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>

#include "admin/client.hpp"
#include "target/cli_common.hpp"
#include "target/cli_lun_edit.hpp"

namespace swiftness::target {

namespace po = boost::program_options;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using namespace cli;

namespace {

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
    if (sub == "create") return cli::lun_create(rest);
    if (sub == "import") return lun_import(rest);
    if (sub == "export") return lun_export(rest);
    if (sub == "resize") return cli::lun_resize(rest);
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
