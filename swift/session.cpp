#include "swift/session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/log.hpp"
#include "swift/responses.hpp"

namespace swiftness::swift {

namespace asio = boost::asio;
using core::object_errc;
using Clock = std::chrono::steady_clock;

namespace {

std::error_code status_error(int status) {
  return {status, core::object_category()};
}

bool is_success(int status) {
  return status >= 200 && status < 300;
}

}  // namespace

Session::Session(asio::any_io_executor strand, SwiftConfig config)
    : ex_(strand),
      config_(std::move(config)),
      http_(strand, TlsOptions{config_.verify_tls, config_.ca_file},
            config_.max_connections_per_endpoint),
      token_(config_.preauth_token),
      rng_(std::random_device{}()) {
  if (!config_.storage_url.empty()) {
    if (auto u = parse_service_url(config_.storage_url)) storage_ = *u;
  }
}

SwiftStats Session::stats() const {
  return {requests_.load(), retries_.load(), reauths_.load(), authentications_.load(),
          http_.connections_opened()};
}

asio::awaitable<void> Session::sleep_backoff(unsigned n, const HttpResponse* reply) {
  std::optional<std::chrono::seconds> retry_after;
  if (reply != nullptr) retry_after = parse_retry_after(reply->header("retry-after"));
  const double unit = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  asio::steady_timer t(ex_);
  t.expires_after(backoff_delay(config_.retry, n, unit, retry_after));
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

// The retry loop for one request whose headers are final (auth requests and /info; storage calls
// go through execute(), which also handles 401).
asio::awaitable<core::Result<HttpResponse>> Session::send_with_retries(const Endpoint& ep,
                                                                       HttpRequest& req,
                                                                       const Call* call) {
  for (unsigned attempt = 1;; ++attempt) {
    ++requests_;
    const auto started = Clock::now();
    auto r = co_await http_.exchange(ep, req, started + config_.request_timeout);
    if (config_.metrics)
      config_.metrics->record(req.method, r ? r->status : core::metrics::HttpMetrics::kNoStatus,
                              Clock::now() - started);
    std::error_code ec;
    if (!r) {
      ec = r.error();
    } else if (!is_success(r->status)) {
      ec = status_error(r->status);
    } else if (call != nullptr && call->check) {
      ec = call->check(*r);
    }
    if (!ec) co_return std::move(*r);
    if (!req.idempotent || !is_retryable(ec) || attempt >= config_.retry.max_attempts) {
      // Given up: no status at all, or a server error (a 404 or 412 is an answer, not a failure).
      if (config_.metrics && (!r || r->status >= 500)) config_.metrics->errors.add();
      if (r && !is_success(r->status)) co_return std::move(*r);  // the caller maps the status
      co_return ec;
    }
    ++retries_;
    if (config_.metrics) config_.metrics->retries.add();
    core::logger("swift")->debug("{} {}: {} (attempt {}), retrying", req.method, req.target,
                                 ec.message(), attempt);
    co_await sleep_backoff(attempt, r ? &*r : nullptr);
  }
}

core::Result<void> Session::adopt(std::string token, std::string_view storage_url) {
  if (token.empty()) return object_errc::bad_response;
  if (config_.storage_url.empty()) {
    auto u = parse_service_url(storage_url);
    if (!u) return object_errc::bad_response;
    storage_ = *u;
  }
  token_ = std::move(token);
  ++token_generation_;
  ++authentications_;
  return {};
}

asio::awaitable<core::Result<void>> Session::auth_v1() {
  auto url = parse_service_url(config_.auth_url);
  if (!url) co_return object_errc::auth_failed;
  HttpRequest req;
  req.method = "GET";
  req.target = url->path.empty() ? "/" : url->path;
  req.headers = {{"X-Auth-User", config_.user}, {"X-Auth-Key", config_.key}};
  auto r = co_await send_with_retries(url->endpoint, req, nullptr);
  if (!r) co_return r.error();
  if (!is_success(r->status)) {
    core::logger("swift")->error("TempAuth at {} answered {}", config_.auth_url, r->status);
    co_return (r->status == 401 || r->status == 403) ? std::error_code(object_errc::auth_failed)
                                                     : status_error(r->status);
  }
  std::string token(r->header("x-auth-token"));
  if (token.empty()) token = r->header("x-storage-token");
  co_return adopt(std::move(token), r->header("x-storage-url"));
}

asio::awaitable<core::Result<void>> Session::auth_v3() {
  auto url = parse_service_url(config_.auth_url);
  if (!url) co_return object_errc::auth_failed;
  const std::string body = keystone_auth_body(
      {config_.user, config_.key, config_.user_domain, config_.project, config_.project_domain});
  HttpRequest req;
  req.method = "POST";
  req.target = url->path.ends_with("/auth/tokens") ? url->path : url->path + "/auth/tokens";
  req.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
  req.body = std::as_bytes(std::span(body));
  req.send_body = true;
  auto r = co_await send_with_retries(url->endpoint, req, nullptr);
  if (!r) co_return r.error();
  if (!is_success(r->status)) {
    core::logger("swift")->error("Keystone at {} answered {}", config_.auth_url, r->status);
    co_return (r->status == 401 || r->status == 403) ? std::error_code(object_errc::auth_failed)
                                                     : status_error(r->status);
  }
  std::string endpoint;
  if (config_.storage_url.empty()) {
    auto ep =
        keystone_endpoint(r->body_text(), config_.service_type, config_.interface, config_.region);
    if (!ep) {
      core::logger("swift")->error("Keystone catalog has no {} endpoint ({}, region '{}')",
                                   config_.service_type, config_.interface, config_.region);
      co_return ep.error() == object_errc::not_found ? std::error_code(object_errc::auth_failed)
                                                     : ep.error();
    }
    endpoint = std::move(*ep);
  }
  co_return adopt(std::string(r->header("x-subject-token")), endpoint);
}

asio::awaitable<core::Result<void>> Session::authenticate() {
  if (config_.auth_url.empty()) co_return object_errc::auth_failed;
  if (config_.auth_version == AuthVersion::v3) co_return co_await auth_v3();
  co_return co_await auth_v1();
}

asio::awaitable<core::Result<HttpResponse>> Session::execute(const Call& call) {
  bool reauthed = false;
  for (;;) {
    if (token_.empty() || !storage_) {
      auto a = co_await authenticate();
      if (!a) co_return a.error();
    }
    const uint64_t generation = token_generation_;
    HttpRequest req;
    req.method = call.method;
    req.target = call.target(*storage_);
    req.headers = call.headers;
    req.headers.emplace_back("X-Auth-Token", token_);
    req.body = call.body;
    req.send_body = call.send_body;
    req.expect_body = call.expect_body;
    req.idempotent = call.idempotent;
    req.body_digest = call.body_digest;
    auto r = co_await send_with_retries(storage_->endpoint, req, &call);
    if (!r) co_return r.error();
    if (r->status == 401 && !reauthed && !config_.auth_url.empty()) {
      // Expired or revoked token (TempAuth hands out the same token until it expires, so do not
      // predict expiry; react to 401). Another call may have re-authenticated meanwhile.
      reauthed = true;
      if (generation == token_generation_) {
        ++reauths_;
        token_.clear();
      }
      continue;
    }
    if (!is_success(r->status)) co_return status_error(r->status);
    co_return std::move(*r);
  }
}

asio::awaitable<core::Result<HttpResponse>> Session::get_info() {
  if (!storage_) {
    auto a = co_await authenticate();
    if (!a) co_return a.error();
  }
  HttpRequest req;
  req.method = "GET";
  req.target = "/info";
  auto r = co_await send_with_retries(storage_->endpoint, req, nullptr);
  if (!r) co_return r.error();
  if (!is_success(r->status)) co_return status_error(r->status);
  co_return std::move(*r);
}

}  // namespace swiftness::swift
