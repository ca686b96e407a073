// Swift URLs: where to connect (scheme, host, port) and how to spell a path. Object and container
// names are percent-encoded with Boost.URL; '/' inside an object name stays literal, as Swift
// treats everything after the container as the object name.
#pragma once

#include <compare>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "core/result.hpp"

namespace swiftness::swift {

// One pool of connections per endpoint.
struct Endpoint {
  bool tls = false;
  std::string host;  // name or address as written, without IPv6 brackets
  uint16_t port = 0;
  auto operator<=>(const Endpoint&) const = default;
  std::string host_header() const;  // "host:port", brackets around IPv6 literals
};

struct ServiceUrl {
  Endpoint endpoint;
  std::string path;  // already percent-encoded, no trailing '/': "/v1/AUTH_test", "/auth/v1.0"
};

// http:// or https:// only; default ports 80/443. bad_request for anything else.
core::Result<ServiceUrl> parse_service_url(std::string_view url);

// "<base>/<container>" and "<base>/<container>/<name>", each part percent-encoded.
std::string container_path(const ServiceUrl& base, std::string_view container);
std::string object_path(const ServiceUrl& base, std::string_view container, std::string_view name);

// "container/name" with the same escaping, relative (X-Copy-From wants a leading '/', bulk
// delete lines do not).
std::string escaped_key(std::string_view container, std::string_view name);

// "?k=v&k2=v2" for the non-empty values (query-encoded), or "" if all are empty.
std::string query_string(std::initializer_list<std::pair<std::string_view, std::string_view>> kv);

}  // namespace swiftness::swift
