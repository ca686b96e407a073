// Hot-path metric cells: what the data path touches per I/O. Relaxed atomics only (no locks, no
// lookups by name); each owner holds its cells by pointer and the admin endpoint reads them at
// scrape time (admin/metrics_writer.hpp renders them in Prometheus text format).
//
// Kept free of heavy headers: layers include this, not the writer.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace swiftness::core::metrics {

class Counter {
 public:
  void add(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Latency histogram with fixed bounds (50 µs to 10 s): an observation is one comparison scan
// over 17 integers and two relaxed increments. Buckets are stored non-cumulative; the count is
// their sum, so a scrape always sees +Inf == _count.
class LatencyHistogram {
 public:
  static constexpr std::array<uint64_t, 17> kBoundsNs{
      50'000,      100'000,       250'000,       500'000,       1'000'000,     2'500'000,
      5'000'000,   10'000'000,    25'000'000,    50'000'000,    100'000'000,   250'000'000,
      500'000'000, 1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000};

  void observe(std::chrono::nanoseconds d) {
    const uint64_t ns = d.count() < 0 ? 0 : uint64_t(d.count());
    size_t i = 0;
    while (i < kBoundsNs.size() && ns > kBoundsNs[i])
      ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(ns, std::memory_order_relaxed);
  }

  struct Snapshot {
    std::array<uint64_t, kBoundsNs.size() + 1> buckets{};  // non-cumulative; last is +Inf
    uint64_t sum_ns = 0;
    uint64_t count() const {
      uint64_t n = 0;
      for (auto b : buckets)
        n += b;
      return n;
    }
  };
  Snapshot snapshot() const {
    Snapshot s;
    for (size_t i = 0; i < buckets_.size(); ++i)
      s.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
    s.sum_ns = sum_ns_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  std::array<std::atomic<uint64_t>, kBoundsNs.size() + 1> buckets_{};
  std::atomic<uint64_t> sum_ns_{0};
};

// One LUN's commands as the initiator sees them at the storage boundary.
struct IoMetrics {
  Counter reads, writes, read_bytes, write_bytes, read_errors, write_errors;
  Counter flushes, unmaps;
  LatencyHistogram read_latency, write_latency;
};

// Swift requests: a fixed table by verb and status code, so recording is an index computation.
class HttpMetrics {
 public:
  static constexpr std::array<std::string_view, 7> kVerbs{"GET",  "PUT",  "HEAD", "DELETE",
                                                          "POST", "COPY", "OTHER"};
  static constexpr int kNoStatus = 0;  // the exchange failed before a status (connect, timeout)

  static size_t verb_index(std::string_view method) {
    for (size_t i = 0; i + 1 < kVerbs.size(); ++i)
      if (kVerbs[i] == method) return i;
    return kVerbs.size() - 1;
  }
  // status: 100..599, or kNoStatus.
  void record(std::string_view method, int status, std::chrono::nanoseconds took) {
    const size_t code = (status >= 100 && status < 600) ? size_t(status) : 0;
    counts_[verb_index(method)][code].fetch_add(1, std::memory_order_relaxed);
    latency.observe(took);
  }
  uint64_t count(size_t verb, int code) const {
    return counts_[verb][size_t(code)].load(std::memory_order_relaxed);
  }

  Counter retries;  // attempts after a retryable failure
  Counter errors;   // requests that failed for good (after retries)
  LatencyHistogram latency;

 private:
  std::array<std::array<std::atomic<uint64_t>, 600>, kVerbs.size()> counts_{};
};

}  // namespace swiftness::core::metrics
