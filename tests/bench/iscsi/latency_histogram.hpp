#pragma once
// Fixed-size log-linear latency histogram (the HdrHistogram idea): constant-time record with no
// allocation, so measuring does not disturb what is measured. Values are nanoseconds; every
// bucket is at most 1/64 (1.6 %) wide relative to its value.

#include <array>
#include <cstdint>

namespace swiftness::bench {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 6;  // 64 linear sub-buckets per power of two
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = (64 - kSubBits + 1) * kSub;

  void record(uint64_t ns) {
    ++counts_[index_of(ns)];
    ++total_;
    sum_ += ns;
    if (ns > max_) max_ = ns;
    if (ns < min_) min_ = ns;
  }

  void merge(const LatencyHistogram& other);

  uint64_t count() const { return total_; }
  uint64_t max() const { return total_ ? max_ : 0; }
  uint64_t min() const { return total_ ? min_ : 0; }
  double mean() const { return total_ ? static_cast<double>(sum_) / total_ : 0.0; }

  // The value at quantile q in [0, 1] (0.5 = median), as the midpoint of its bucket clamped to
  // the observed min/max. Returns 0 for an empty histogram.
  uint64_t percentile(double q) const;

  static int index_of(uint64_t v);
  static uint64_t lower_bound_of(int index);
  static uint64_t width_of(int index);

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = UINT64_MAX;
};

}  // namespace swiftness::bench
