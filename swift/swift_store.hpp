// core::ObjectStore over OpenStack Swift's HTTP API (issue 4; design.md §6): TempAuth v1 or
// Keystone v3, HTTP or HTTPS, a keep-alive pool per endpoint, a deadline per attempt, retries with
// backoff and jitter for transient failures of idempotent requests, re-authentication on 401.
//
// Thread-safe: every operation runs on the store's own strand (made from the executor given to the
// constructor), so callers on any thread or strand may share one store. Beast stays out of this
// header (pimpl), so including it is cheap.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "core/metrics.hpp"
#include "core/object_store.hpp"
#include "swift/retry.hpp"
#include "swift/types.hpp"

namespace swiftness::swift {

enum class AuthVersion { v1, v3 };

struct SwiftConfig {
  // v1: the TempAuth URL, e.g. http://127.0.0.1:8080/auth/v1.0 (X-Auth-User/X-Auth-Key ->
  // X-Storage-Url/X-Auth-Token). v3: the Keystone base, e.g. http://127.0.0.1:5000/v3
  // (POST <base>/auth/tokens). Empty: no authentication (storage_url and preauth_token only).
  std::string auth_url;
  AuthVersion auth_version = AuthVersion::v1;
  std::string user;  // v1 "account:user", v3 the user name
  std::string key;   // v1 key, v3 password

  // Keystone v3 only: project scope and which catalog endpoint to use.
  std::string user_domain = "Default";
  std::string project;
  std::string project_domain = "Default";
  std::string region;  // empty: the first matching endpoint of any region
  std::string interface = "public";
  std::string service_type = "object-store";

  // As python-swiftclient's --os-storage-url / --os-auth-token: a storage URL that overrides the
  // one authentication returns (e.g. a TLS terminator in front of the proxy), and a token to start
  // with. A 401 still re-authenticates if auth_url is set.
  std::string storage_url;
  std::string preauth_token;

  // TLS: certificate and host-name verification are on unless turned off here.
  bool verify_tls = true;
  std::string ca_file;  // PEM; empty = system defaults

  std::chrono::milliseconds request_timeout{30000};  // one attempt: connect to last byte
  // Uploads may hold max - max/4 of them (reads keep the rest, http.cpp): 12 of 16, so a LUN's
  // flush_concurrency (8 by default) runs in full. With 8, only 6 uploads ran at a time and the
  // drain could not reach the raw 8-stream PUT rate it is measured against.
  std::size_t max_connections_per_endpoint = 16;
  RetryPolicy retry;
  uint32_t listing_page_size = 0;  // names per listing request; 0 = Swift's limit (10000)
  // Every HTTP exchange by verb and status, retries and final failures (for /metrics); optional.
  std::shared_ptr<core::metrics::HttpMetrics> metrics;
};

struct SwiftStats {
  uint64_t requests = 0;            // HTTP exchanges attempted (auth included)
  uint64_t retries = 0;             // attempts after a retryable failure
  uint64_t reauths = 0;             // authentications after a 401
  uint64_t authentications = 0;     // every successful authentication
  uint64_t connections_opened = 0;  // TCP connections (keep-alive reuse keeps this low)
};

class SwiftStore final : public core::ObjectStore {
 public:
  SwiftStore(boost::asio::any_io_executor ex, SwiftConfig config);
  ~SwiftStore() override;
  SwiftStore(const SwiftStore&) = delete;
  SwiftStore& operator=(const SwiftStore&) = delete;

  // core::ObjectStore
  boost::asio::awaitable<core::Result<void>> create_container(
      const std::string& container, const std::string& storage_policy = {}) override;
  boost::asio::awaitable<core::Result<void>> delete_container(
      const std::string& container) override;
  boost::asio::awaitable<core::Result<core::ObjectInfo>> put(
      const core::ObjectKey& key, std::span<const std::byte> body,
      const core::PutOptions& opts = {}) override;
  boost::asio::awaitable<core::Result<core::Object>> get(
      const core::ObjectKey& key, const core::GetOptions& opts = {}) override;
  boost::asio::awaitable<core::Result<core::ObjectInfo>> head(const core::ObjectKey& key) override;
  boost::asio::awaitable<core::Result<void>> remove(const core::ObjectKey& key) override;
  boost::asio::awaitable<core::Result<void>> copy(const core::ObjectKey& from,
                                                  const core::ObjectKey& to) override;
  boost::asio::awaitable<core::Result<std::vector<core::ListEntry>>> list(
      const std::string& container, const core::ListOptions& opts = {}) override;
  boost::asio::awaitable<core::Result<core::BulkDeleteResult>> bulk_delete(
      std::span<const core::ObjectKey> keys) override;

  // Swift only.
  boost::asio::awaitable<core::Result<void>> authenticate();  // now, without waiting for a need
  boost::asio::awaitable<core::Result<ContainerInfo>> head_container(const std::string& container);
  boost::asio::awaitable<core::Result<Constraints>> info();  // GET /info, no token needed

  SwiftStats stats() const;

  struct Impl;  // swift_store.cpp

 private:
  std::shared_ptr<Impl> impl_;  // shared with in-flight operations
};

}  // namespace swiftness::swift
