// Authentication and the request loop shared by every operation: token and storage URL, 401 ->
// re-authenticate once and replay, retries with backoff for transient failures of idempotent
// requests, a deadline per attempt. Internal to swift/; runs on SwiftStore's strand only.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <optional>
#include <random>
#include <string>

#include "core/result.hpp"
#include "swift/http.hpp"
#include "swift/swift_store.hpp"
#include "swift/url.hpp"

namespace swiftness::swift {

// One logical request against the storage URL; the loop fills in the token and the base path.
struct Call {
  std::string_view method;
  std::function<std::string(const ServiceUrl& storage)> target{};
  std::vector<std::pair<std::string, std::string>> headers{};
  std::span<const std::byte> body{};
  bool send_body = false;
  bool expect_body = true;
  bool idempotent = true;
  Md5* body_digest = nullptr;
  // Checked on a 2xx reply; an error it returns is handled like a failed attempt (retried if
  // retryable and the call is idempotent).
  std::function<std::error_code(const HttpResponse&)> check{};
};

class Session {
 public:
  Session(boost::asio::any_io_executor strand, SwiftConfig config);

  // Runs the call to completion. A 2xx reply is a success; any other status becomes
  // object_errc{status} once retries (if any) are exhausted.
  boost::asio::awaitable<core::Result<HttpResponse>> execute(const Call& call);

  boost::asio::awaitable<core::Result<void>> authenticate();

  // GET <scheme://host:port>/info of the storage endpoint (authenticating first if needed to
  // learn it), without a token.
  boost::asio::awaitable<core::Result<HttpResponse>> get_info();

  const SwiftConfig& config() const { return config_; }
  SwiftStats stats() const;

 private:
  boost::asio::awaitable<core::Result<HttpResponse>> send_with_retries(const Endpoint& ep,
                                                                       HttpRequest& req,
                                                                       const Call* call);
  boost::asio::awaitable<core::Result<void>> auth_v1();
  boost::asio::awaitable<core::Result<void>> auth_v3();
  boost::asio::awaitable<void> sleep_backoff(unsigned n, const HttpResponse* reply);
  core::Result<void> adopt(std::string token, std::string_view storage_url);

  boost::asio::any_io_executor ex_;
  SwiftConfig config_;
  HttpClient http_;
  std::string token_;
  std::optional<ServiceUrl> storage_;
  uint64_t token_generation_ = 0;
  std::minstd_rand rng_;
  std::atomic<uint64_t> requests_{0}, retries_{0}, reauths_{0}, authentications_{0};
};

}  // namespace swiftness::swift
