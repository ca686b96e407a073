// Prometheus text exposition format 0.0.4, written by hand: a scrape collects values from the
// hot-path cells (core/metrics.hpp) and from stats the layers already keep, then renders them
// grouped by family (HELP and TYPE once, samples together), in first-seen order.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/metrics.hpp"

namespace swiftness::admin {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Exposition {
 public:
  void counter(std::string_view name, std::string_view help, const Labels& labels, double value);
  void gauge(std::string_view name, std::string_view help, const Labels& labels, double value);
  // A latency histogram in seconds (`name`_bucket/_sum/_count).
  void histogram(std::string_view name, std::string_view help, const Labels& labels,
                 const core::metrics::LatencyHistogram::Snapshot& snap);
  std::string text() const;

  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  struct Family {
    std::string name, help, type;
    std::string samples;
  };
  Family& family(std::string_view name, std::string_view help, std::string_view type);
  static void sample(std::string& out, std::string_view name, const Labels& labels,
                     const std::pair<std::string, std::string>* extra, double value);

  std::vector<Family> families_;
  std::map<std::string, size_t, std::less<>> index_;
};

}  // namespace swiftness::admin
