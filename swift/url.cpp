#include "swift/url.hpp"

#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/pchars.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

namespace swiftness::swift {

using core::object_errc;

namespace {

// RFC 3986 3.3 pchar, plus '/' for object names that contain slashes.
constexpr boost::urls::grammar::lut_chars kObjectChars = boost::urls::pchars + '/';

std::string encode(std::string_view s, const boost::urls::grammar::lut_chars& allowed) {
  return boost::urls::encode(s, allowed);
}

}  // namespace

std::string Endpoint::host_header() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

core::Result<ServiceUrl> parse_service_url(std::string_view url) {
  auto r = boost::urls::parse_absolute_uri(url);
  if (!r) return object_errc::bad_request;
  ServiceUrl out;
  const auto scheme = r->scheme_id();
  if (scheme == boost::urls::scheme::https) {
    out.endpoint.tls = true;
  } else if (scheme != boost::urls::scheme::http) {
    return object_errc::bad_request;
  }
  out.endpoint.host = r->encoded_host_address();
  if (out.endpoint.host.empty()) return object_errc::bad_request;
  if (r->has_port()) {
    if (r->port_number() == 0) return object_errc::bad_request;
    out.endpoint.port = r->port_number();
  } else {
    out.endpoint.port = out.endpoint.tls ? 443 : 80;
  }
  out.path = r->encoded_path();
  while (!out.path.empty() && out.path.back() == '/')
    out.path.pop_back();
  return out;
}

std::string container_path(const ServiceUrl& base, std::string_view container) {
  return base.path + "/" + encode(container, boost::urls::pchars);
}

std::string object_path(const ServiceUrl& base, std::string_view container, std::string_view name) {
  return container_path(base, container) + "/" + encode(name, kObjectChars);
}

std::string escaped_key(std::string_view container, std::string_view name) {
  return encode(container, boost::urls::pchars) + "/" + encode(name, kObjectChars);
}

std::string query_string(std::initializer_list<std::pair<std::string_view, std::string_view>> kv) {
  std::string q;
  for (const auto& [k, v] : kv) {
    if (v.empty()) continue;
    q += q.empty() ? '?' : '&';
    q += encode(k, boost::urls::unreserved_chars);
    q += '=';
    q += encode(v, boost::urls::unreserved_chars);
  }
  return q;
}

}  // namespace swiftness::swift
