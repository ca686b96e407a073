#include "target/cli_common.hpp"

#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

namespace swiftness::target::cli {

namespace po = boost::program_options;
namespace json = boost::json;

void add_common(po::options_description& d, Common& c) {
  d.add_options()("config,c", po::value(&c.config_path), "configuration file")(
      "socket", po::value(&c.socket), "admin socket (default: from the configuration)");
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

std::optional<admin::Response> call(const admin::Endpoint& ep, const std::string& method,
                                    const std::string& target) {
  admin::Client client(ep);
  auto r = client.call(method, target);
  if (!r) {
    std::cerr << "swiftness: cannot reach the daemon at " << ep.describe() << ": "
              << r.error().message() << "\n";
    return std::nullopt;
  }
  return *r;
}

std::optional<json::value> call_json(const admin::Endpoint& ep, const std::string& method,
                                     const std::string& target, int want) {
  auto r = call(ep, method, target);
  if (!r) return std::nullopt;
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

bool plain_name(const std::string& n) {
  if (n.empty() || n.size() > 128) return false;
  for (char c : n)
    if (!(std::isalnum(uint8_t(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace swiftness::target::cli
