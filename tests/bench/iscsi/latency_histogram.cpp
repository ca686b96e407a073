#include "tests/bench/iscsi/latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace swiftness::bench {

// Values below kSub map to themselves. Above, the bucket is chosen by the position of the most
// significant bit (the "power") and the kSubBits bits right below it (the linear sub-bucket).
int LatencyHistogram::index_of(uint64_t v) {
  if (v < static_cast<uint64_t>(kSub)) return static_cast<int>(v);
  const int msb = 63 - std::countl_zero(v);
  const int shift = msb - kSubBits;                     // >= 0 here
  const int top = static_cast<int>(v >> shift) - kSub;  // in [0, kSub)
  return (shift + 1) * kSub + top;
}

uint64_t LatencyHistogram::lower_bound_of(int index) {
  if (index < kSub) return static_cast<uint64_t>(index);
  const int shift = index / kSub - 1;
  const uint64_t top = static_cast<uint64_t>(index % kSub) + kSub;
  return top << shift;
}

uint64_t LatencyHistogram::width_of(int index) {
  if (index < kSub) return 1;
  return uint64_t{1} << (index / kSub - 1);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (int i = 0; i < kBuckets; ++i)
    counts_[i] += other.counts_[i];
  total_ += other.total_;
  sum_ += other.sum_;
  max_ = std::max(max_, other.max_);
  min_ = std::min(min_, other.min_);
}

uint64_t LatencyHistogram::percentile(double q) const {
  if (total_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  if (q == 0.0) return min();  // the extremes are known exactly; no bucket rounding
  if (q == 1.0) return max();
  // Nearest-rank definition: the smallest value with at least ceil(q * n) samples at or below.
  const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * total_)));
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const uint64_t mid = lower_bound_of(i) + width_of(i) / 2;
      return std::clamp(mid, min(), max());
    }
  }
  return max();
}

}  // namespace swiftness::bench
