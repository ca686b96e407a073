// The admin endpoint: a Unix socket with its mode, and optionally a loopback-only TCP port.
#include <arpa/inet.h>
#include <sys/un.h>

#include "config/reader.hpp"

namespace swiftness::config::detail {
namespace {

// Only literal loopback addresses: the admin endpoint has no authentication of its own.
bool loopback_address(const std::string& a) {
  in_addr v4{};
  if (::inet_pton(AF_INET, a.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, a.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

}  // namespace

void read_admin(Reader& r, const YAML::Node& t, Config& c) {
  const std::string p = "admin";
  auto& s = c.admin;
  if (!t || !r.map(t, p)) return;
  r.check_keys(t, p, {"socket", "socket_mode", "listen"});
  if (auto v = r.str(t, p, "socket")) {
    if (v->size() >= sizeof(sockaddr_un{}.sun_path))
      r.error(t["socket"], p + ".socket",
              "is longer than a Unix socket path may be (" +
                  std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes)");
    s.socket = *v;
    if (v->empty()) s.socket = "-";  // explicitly off; resolved in load_node
  }
  if (auto v = r.str(t, p, "socket_mode")) {
    if (*v == "0600" || *v == "600")
      s.socket_mode = 0600;
    else if (*v == "0660" || *v == "660")
      s.socket_mode = 0660;
    else
      r.error(t["socket_mode"], p + ".socket_mode", "must be 0600 or 0660");
  }
  if (auto v = r.str(t, p, "listen")) {
    auto colon = v->rfind(':');
    unsigned port = 0;
    std::from_chars_result pr{};
    if (colon != std::string::npos)
      pr = std::from_chars(v->data() + colon + 1, v->data() + v->size(), port);
    if (colon == std::string::npos || pr.ec != std::errc{} || pr.ptr != v->data() + v->size() ||
        port > 65535) {
      r.error(t["listen"], p + ".listen", "'" + *v + "' is not address:port");
      return;
    }
    Portal l;
    l.address = v->substr(0, colon);
    if (l.address.size() > 2 && l.address.front() == '[')
      l.address = l.address.substr(1, l.address.size() - 2);
    l.port = uint16_t(port);
    if (!loopback_address(l.address))
      r.error(t["listen"], p + ".listen",
              "'" + l.address +
                  "' is not a loopback address (127.0.0.0/8 or ::1); the admin endpoint "
                  "must not be reachable from the network");
    else
      s.http = l;
  }
}

}  // namespace swiftness::config::detail
