#include "admin/metrics_writer.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

using namespace swiftness;
using admin::Exposition;

TEST(Exposition, GroupsFamiliesWithHelpAndTypeOnce) {
  Exposition e;
  e.counter("x_total", "Things", {{"lun", "0"}, {"op", "read"}}, 3);
  e.gauge("y_bytes", "Bytes", {}, 1.5);
  e.counter("x_total", "Things", {{"lun", "1"}, {"op", "read"}}, 4);
  EXPECT_EQ(e.text(),
            "# HELP x_total Things\n# TYPE x_total counter\n"
            "x_total{lun=\"0\",op=\"read\"} 3\nx_total{lun=\"1\",op=\"read\"} 4\n"
            "# HELP y_bytes Bytes\n# TYPE y_bytes gauge\ny_bytes 1.5\n");
}

TEST(Exposition, EscapesLabelValuesAndHelp) {
  Exposition e;
  e.gauge("g", "a\\b\nc", {{"name", "q\"uo\\te\nx"}}, 0);
  EXPECT_EQ(e.text(), "# HELP g a\\\\b\\nc\n# TYPE g gauge\ng{name=\"q\\\"uo\\\\te\\nx\"} 0\n");
}

TEST(Exposition, HistogramIsCumulativeInSecondsWithInfEqualToCount) {
  core::metrics::LatencyHistogram h;
  h.observe(std::chrono::microseconds(10));  // first bucket (50 us)
  h.observe(std::chrono::microseconds(60));  // 100 us
  h.observe(std::chrono::milliseconds(3));   // 5 ms
  h.observe(std::chrono::seconds(20));       // +Inf only
  Exposition e;
  e.histogram("lat_seconds", "Latency", {{"op", "read"}}, h.snapshot());
  const std::string t = e.text();
  EXPECT_NE(t.find("# TYPE lat_seconds histogram\n"), std::string::npos);
  EXPECT_NE(t.find("lat_seconds_bucket{op=\"read\",le=\"5e-05\"} 1\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_bucket{op=\"read\",le=\"0.0001\"} 2\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_bucket{op=\"read\",le=\"0.005\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_bucket{op=\"read\",le=\"10\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_bucket{op=\"read\",le=\"+Inf\"} 4\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_count{op=\"read\"} 4\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_sum{op=\"read\"} 20.00307\n"), std::string::npos) << t;
}

TEST(HotPathCells, CountersAndHistogramsAreExactUnderThreads) {
  core::metrics::IoMetrics m;
  core::metrics::HttpMetrics h;
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 100000; ++i) {
        m.reads.add();
        m.read_bytes.add(4096);
        m.read_latency.observe(std::chrono::microseconds(i % 2000));
        h.record("PUT", 201, std::chrono::milliseconds(1));
      }
    });
  for (auto& t : ts)
    t.join();
  EXPECT_EQ(m.reads.value(), 400000u);
  EXPECT_EQ(m.read_bytes.value(), 400000u * 4096);
  EXPECT_EQ(m.read_latency.snapshot().count(), 400000u);
  EXPECT_EQ(h.count(core::metrics::HttpMetrics::verb_index("PUT"), 201), 400000u);
  EXPECT_EQ(h.count(core::metrics::HttpMetrics::verb_index("GET"), 201), 0u);
  h.record("BREW", 0, {});
  EXPECT_EQ(h.count(core::metrics::HttpMetrics::verb_index("OTHER"), 0), 1u);
}
