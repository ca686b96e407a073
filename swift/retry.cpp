#include "swift/retry.hpp"

#include <algorithm>
#include <charconv>

#include "core/result.hpp"

namespace swiftness::swift {

using core::object_errc;

bool is_retryable(std::error_code ec) {
  if (ec.category() != core::object_category()) return false;
  const int v = ec.value();
  if (v == 408 || v == 429 || v == 498 || (v >= 500 && v < 600)) return true;
  return ec == object_errc::connection_failed || ec == object_errc::timeout ||
         ec == object_errc::checksum_mismatch;
}

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, unsigned n, double unit,
                                        std::optional<std::chrono::seconds> retry_after) {
  using std::chrono::milliseconds;
  const auto cap = std::max(policy.max_backoff, milliseconds(1));
  auto d = std::max(policy.initial_backoff, milliseconds(1));
  for (unsigned i = 1; i < n && d < cap; ++i)
    d *= 2;
  d = std::min(d, cap);
  unit = std::clamp(unit, 0.0, 1.0);
  auto wait = d / 2 + milliseconds(static_cast<int64_t>(static_cast<double>(d.count()) / 2 * unit));
  if (retry_after) wait = std::max<milliseconds>(wait, *retry_after);
  return std::min(wait, cap);
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value) {
  while (!value.empty() && value.front() == ' ')
    value.remove_prefix(1);
  int64_t s = 0;
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), s);
  if (ec != std::errc() || s < 0) return std::nullopt;
  return std::chrono::seconds(s);
}

}  // namespace swiftness::swift
