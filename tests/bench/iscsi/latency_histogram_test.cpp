#include "tests/bench/iscsi/latency_histogram.hpp"

#include <gtest/gtest.h>

namespace swiftness::bench {
namespace {

TEST(LatencyHistogram, BucketsAreContiguousAndNarrow) {
  for (int i = 0; i + 1 < LatencyHistogram::kBuckets; ++i) {
    ASSERT_EQ(LatencyHistogram::lower_bound_of(i) + LatencyHistogram::width_of(i),
              LatencyHistogram::lower_bound_of(i + 1))
        << i;
  }
  for (uint64_t v : {0ull, 1ull, 63ull, 64ull, 65ull, 1000ull, 123456789ull, ~0ull}) {
    const int i = LatencyHistogram::index_of(v);
    EXPECT_LE(LatencyHistogram::lower_bound_of(i), v);
    EXPECT_LT(v - LatencyHistogram::lower_bound_of(i), LatencyHistogram::width_of(i));
    EXPECT_LE(LatencyHistogram::width_of(i) * 64, std::max<uint64_t>(v, 64));
  }
}

TEST(LatencyHistogram, PercentilesOfAUniformSpread) {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 100000; ++v)
    h.record(v * 1000);  // 1 us .. 100 ms
  EXPECT_EQ(100000u, h.count());
  EXPECT_NEAR(50e6, static_cast<double>(h.percentile(0.5)), 50e6 * 0.02);
  EXPECT_NEAR(99e6, static_cast<double>(h.percentile(0.99)), 99e6 * 0.02);
  EXPECT_EQ(100000000u, h.percentile(1.0));
  EXPECT_EQ(1000u, h.percentile(0.0));
  EXPECT_NEAR(50000500.0, h.mean(), 1.0);
}

TEST(LatencyHistogram, TailIsNotHiddenByTheMedian) {
  LatencyHistogram h, other;
  for (int i = 0; i < 980; ++i)
    h.record(100000);
  for (int i = 0; i < 20; ++i)
    other.record(9000000);
  h.merge(other);
  EXPECT_NEAR(100000.0, static_cast<double>(h.percentile(0.5)), 2000);
  EXPECT_NEAR(9000000.0, static_cast<double>(h.percentile(0.99)), 9000000 * 0.02);
  EXPECT_EQ(9000000u, h.max());
  EXPECT_EQ(100000u, h.min());
}

TEST(LatencyHistogram, EmptyIsZero) {
  LatencyHistogram h;
  EXPECT_EQ(0u, h.percentile(0.5));
  EXPECT_EQ(0u, h.max());
  EXPECT_EQ(0.0, h.mean());
}

}  // namespace
}  // namespace swiftness::bench
