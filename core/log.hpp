// One spdlog logger per layer ("iscsi", "scsi", "cache", "swift", "config", "main"), set up once
// by the daemon. Library code asks for its logger by name; tests get the default stderr sink.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace swiftness::core {

std::shared_ptr<spdlog::logger> logger(const std::string& layer);
// Sets the level of every layer's logger ("trace".."off").
void set_log_level(std::string_view level);

// Lets through at most `burst` messages per `period`, then counts the rest and reports the count
// with the next message that passes. For errors an initiator can trigger (design.md §7), so one
// bad client cannot flood the log. Not thread-safe: keep one per strand or guard it.
class RateLimit {
 public:
  explicit RateLimit(unsigned burst = 10,
                     std::chrono::steady_clock::duration period = std::chrono::seconds(10))
      : burst_(burst), period_(period) {}
  // True if this message may be logged; `suppressed` then holds how many were dropped before it.
  bool allow(uint64_t& suppressed);

 private:
  unsigned burst_;
  std::chrono::steady_clock::duration period_;
  std::chrono::steady_clock::time_point window_start_{};
  unsigned in_window_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace swiftness::core
