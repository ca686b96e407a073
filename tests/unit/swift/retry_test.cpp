#include "swift/retry.hpp"

#include <gtest/gtest.h>

#include "core/result.hpp"

namespace swiftness::swift {
namespace {

using core::object_errc;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::error_code status(int s) {
  return {s, core::object_category()};
}

TEST(Retry, TransientStatusesAndTransportFailuresAreRetryable) {
  for (int s : {408, 429, 498, 500, 502, 503, 504, 507, 529}) {
    EXPECT_TRUE(is_retryable(status(s))) << s;
  }
  EXPECT_TRUE(is_retryable(object_errc::connection_failed));
  EXPECT_TRUE(is_retryable(object_errc::timeout));
  EXPECT_TRUE(is_retryable(object_errc::checksum_mismatch));
}

TEST(Retry, ClientErrorsAndLocalFailuresAreNot) {
  for (int s : {400, 401, 403, 404, 409, 411, 412, 416, 422}) {
    EXPECT_FALSE(is_retryable(status(s))) << s;
  }
  EXPECT_FALSE(is_retryable(object_errc::tls_error));
  EXPECT_FALSE(is_retryable(object_errc::auth_failed));
  EXPECT_FALSE(is_retryable(object_errc::bad_response));
  EXPECT_FALSE(is_retryable(std::make_error_code(std::errc::io_error)));
}

TEST(Retry, BackoffDoublesWithinEqualJitterBounds) {
  RetryPolicy p{
      .max_attempts = 10, .initial_backoff = milliseconds(100), .max_backoff = milliseconds(1000)};
  // n-th wait lies in [d/2, d] with d = min(cap, 100 ms * 2^(n-1)).
  EXPECT_EQ(backoff_delay(p, 1, 0.0), milliseconds(50));
  EXPECT_EQ(backoff_delay(p, 1, 0.999), milliseconds(99));
  EXPECT_EQ(backoff_delay(p, 2, 0.0), milliseconds(100));
  EXPECT_EQ(backoff_delay(p, 3, 0.5), milliseconds(300));
  EXPECT_EQ(backoff_delay(p, 4, 0.0), milliseconds(400));
  EXPECT_EQ(backoff_delay(p, 5, 0.0), milliseconds(500));  // capped at 1000
  EXPECT_EQ(backoff_delay(p, 30, 1.0), milliseconds(1000));
}

TEST(Retry, RetryAfterRaisesTheWaitButNotPastTheCap) {
  RetryPolicy p{
      .max_attempts = 5, .initial_backoff = milliseconds(100), .max_backoff = milliseconds(3000)};
  EXPECT_EQ(backoff_delay(p, 1, 0.0, seconds(2)), milliseconds(2000));
  EXPECT_EQ(backoff_delay(p, 1, 0.0, seconds(60)), milliseconds(3000));
  EXPECT_EQ(parse_retry_after("5"), seconds(5));
  EXPECT_EQ(parse_retry_after(" 0"), seconds(0));
  EXPECT_EQ(parse_retry_after("Fri, 31 Dec 1999 23:59:59 GMT"), std::nullopt);
  EXPECT_EQ(parse_retry_after(""), std::nullopt);
}

}  // namespace
}  // namespace swiftness::swift
