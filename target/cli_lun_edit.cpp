#include "target/cli_lun_edit.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <iostream>

#include "swift/swift_store.hpp"
#include "target/cli_common.hpp"
#include "target/config_edit.hpp"
#include "target/swift_wiring.hpp"

namespace swiftness::target::cli {

namespace po = boost::program_options;
namespace json = boost::json;

namespace {

// The running daemon of this configuration, if one answers; nullopt (quietly) when none does:
// editing the file is then all there is to do.
struct Daemon {
  admin::Endpoint ep;
  json::value status;
};
std::optional<Daemon> running_daemon(const admin::Endpoint& ep) {
  admin::Client client(ep);
  auto r = client.call("GET", "/status");
  if (!r || r->status != 200) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(r->body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return Daemon{ep, std::move(v)};
}

bool contains(const json::value& outcome, const char* list, const std::string& name) {
  if (!outcome.is_object() || !outcome.as_object().contains(list)) return false;
  for (const auto& x : outcome.at(list).as_array())
    if (x.is_string() && x.as_string() == name) return true;
  return false;
}

// POST /reload: the reload SIGHUP runs, answered with what it did (200 applied, 409 refused).
std::optional<json::value> reload(const admin::Endpoint& ep) {
  auto r = call(ep, "POST", "/reload");
  if (!r) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(r->body, ec);
  if (ec || !v.is_object() || (r->status != 200 && r->status != 409)) {
    std::cerr << "swiftness: POST /reload: " << r->status << " " << r->body << "\n";
    return std::nullopt;
  }
  return v;
}

void print_errors(const json::value& outcome) {
  if (!outcome.as_object().contains("errors")) return;
  for (const auto& e : outcome.at("errors").as_array())
    if (e.is_string()) std::cerr << "  " << e.as_string() << "\n";
}

}  // namespace

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
            << ") added to " << c.config_path << "; container " << lun.container << " created.\n";
  auto ep = endpoint(c);
  auto daemon = ep ? running_daemon(*ep) : std::nullopt;
  if (!daemon) {
    std::cout << "No daemon answers at " << (ep ? ep->describe() : "an admin endpoint")
              << ": the LUN is attached when the daemon starts.\n";
    return 0;
  }
  auto outcome = reload(daemon->ep);
  if (!outcome) return 1;
  if (contains(*outcome, "added", lun.name)) {
    std::cout << "The running daemon (pid " << u64(daemon->status, "pid") << ") attached it as LUN "
              << lun.id << ".\n";
    return 0;
  }
  std::cerr << "swiftness: the running daemon did not attach " << lun.name
            << " (the configuration keeps it; fix the cause and reload):\n";
  print_errors(*outcome);
  return 1;
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
  const uint64_t bytes = *config::parse_size(size);  // set_lun_size checked it
  // The running LUN may be larger than the file says (someone edited the file back): refuse
  // before changing anything.
  auto ep = endpoint(c);
  auto daemon = ep ? running_daemon(*ep) : std::nullopt;
  if (daemon) {
    for (const auto& l : daemon->status.at("luns").as_array()) {
      if (str(l, "name") != name || u64(l, "size") <= bytes) continue;
      std::cerr << "swiftness: shrinking is refused: the running LUN " << name << " has "
                << u64(l, "size") << " bytes, more than " << bytes << "\n";
      return 2;
    }
  }
  if (auto w = replace_file(c.config_path, edit.text); !w) {
    std::cerr << "swiftness: cannot write " << c.config_path << ": " << w.error().message() << "\n";
    return 1;
  }
  std::cout << "LUN " << name << " is " << size << " (" << bytes << " bytes) in " << c.config_path
            << ".\n";
  if (!daemon) {
    std::cout << "No daemon answers at " << (ep ? ep->describe() : "an admin endpoint")
              << ": the new size applies when the daemon starts.\n";
    return 0;
  }
  auto outcome = reload(daemon->ep);
  if (!outcome) return 1;
  if (contains(*outcome, "grown", name)) {
    std::cout << "The running daemon grew it live; logged-in initiators get CAPACITY DATA HAS "
                 "CHANGED at their next command and read the new size.\n";
    return 0;
  }
  if (outcome->at("applied").as_bool() && !contains(*outcome, "failed", name)) {
    std::cout << "The running daemon already serves it at this size.\n";
    return 0;
  }
  std::cerr << "swiftness: the running daemon did not grow " << name
            << " (the file has the new size; fix the cause and reload):\n";
  print_errors(*outcome);
  return 1;
}

}  // namespace swiftness::target::cli
