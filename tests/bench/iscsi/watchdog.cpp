#include "tests/bench/iscsi/watchdog.hpp"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace swiftness::bench {

using Clock = std::chrono::steady_clock;

void Watchdog::watch() {
  std::unique_lock lock(mu_);
  while (!done_) {
    if (Clock::now() < deadline_) {
      cv_.wait_until(lock, deadline_ == Clock::time_point::max()
                               ? Clock::now() + std::chrono::hours(1)
                               : deadline_);
      continue;
    }
    const auto ms = [&](Clock::time_point t) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(t - start_).count();
    };
    std::string what = fmt::format(
        "iscsi-loadgen: watchdog: {} did not end within its bound ({} ms after the start); "
        "giving up",
        phase_, ms(Clock::now()));
    if (progress_ != nullptr) {
      for (size_t i = 0; i < progress_->size(); ++i) {
        const Progress& p = (*progress_)[i];
        what += fmt::format(
            "\n  session {}: {} commands outstanding, {} completed, last completion {}", i,
            p.outstanding.load(std::memory_order_relaxed),
            p.completed.load(std::memory_order_relaxed),
            p.last_completion_ms.load(std::memory_order_relaxed) < 0
                ? std::string("never")
                : fmt::format("at {} ms", p.last_completion_ms.load(std::memory_order_relaxed)));
      }
    }
    std::fprintf(stderr, "%s\n", what.c_str());
    std::fflush(stdout);
    _exit(5);
  }
}

}  // namespace swiftness::bench
