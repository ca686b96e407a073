// One HTTP/1.1 exchange over a pooled keep-alive connection (plain TCP or TLS), with a deadline.
// Internal to swift/: the Beast types stay in http.cpp, so this header is cheap to include.
// Not thread-safe: SwiftStore calls it from one strand only.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "swift/url.hpp"

namespace swiftness::swift {

class Md5;

struct HttpRequest {
  std::string_view method;  // "GET", "PUT", "COPY", ...
  std::string target;       // percent-encoded path and query
  std::vector<std::pair<std::string, std::string>> headers;
  std::span<const std::byte> body;  // not copied; sent as is
  bool send_body = false;           // sends Content-Length (also 0) for PUT/POST
  bool expect_body = true;          // false for HEAD: the reply has headers only
  Md5* body_digest = nullptr;       // fed with the reply body while it streams in
  bool idempotent = true;           // may be sent twice (RFC 9110 9.2.2)
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
  std::vector<std::byte> body;

  std::string_view header(std::string_view lower_name) const;  // "" if absent
  bool has_header(std::string_view lower_name) const;
  std::string_view body_text() const {
    return {reinterpret_cast<const char*>(body.data()), body.size()};
  }
};

struct TlsOptions {
  bool verify_peer = true;  // certificate chain and host name (RFC 6125) checks
  std::string ca_file;      // PEM bundle; empty = the system's default paths
};

class HttpClient {
 public:
  HttpClient(boost::asio::any_io_executor ex, TlsOptions tls, std::size_t max_per_endpoint);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `req` and reads the whole reply before `deadline`. Idle pooled connections the server
  // has closed are dropped before use; if an idempotent request still fails on a reused
  // connection before any reply byte, it is replayed once on a fresh one. Errors: timeout,
  // connection_failed, tls_error, bad_response (unparseable HTTP). Any HTTP status is a success
  // here.
  boost::asio::awaitable<core::Result<HttpResponse>> exchange(
      const Endpoint& ep, const HttpRequest& req, std::chrono::steady_clock::time_point deadline);

  uint64_t connections_opened() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace swiftness::swift
