// When to retry a Swift request, and how long to wait first. Pure functions, unit-tested.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>

namespace swiftness::swift {

struct RetryPolicy {
  unsigned max_attempts = 5;                       // first try included; 1 = never retry
  std::chrono::milliseconds initial_backoff{100};  // before the second attempt (before jitter)
  std::chrono::milliseconds max_backoff{5000};     // cap on any single wait
};

// Transient outcomes worth another attempt of an idempotent request: 408 Request Timeout,
// 429 Too Many Requests, 498 (Swift ratelimit middleware), every 5xx (503, 507, 529 from
// backend_ratelimit, ...), and failures that produced no status (connection refused or reset,
// EOF mid-body, deadline, ETag mismatch on a whole-object GET). Never 4xx client errors.
bool is_retryable(std::error_code ec);

// Exponential backoff with "equal jitter": the n-th wait (n = 1 before the second attempt) is
// d/2 + uniform(0, d/2) with d = min(max_backoff, initial_backoff * 2^(n-1)). `unit` is a uniform
// random number in [0, 1). A server's Retry-After (seconds) raises the wait, still capped.
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, unsigned n, double unit,
                                        std::optional<std::chrono::seconds> retry_after = {});

// Retry-After as delta-seconds (RFC 9110 10.2.3); HTTP-dates are ignored.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value);

}  // namespace swiftness::swift
