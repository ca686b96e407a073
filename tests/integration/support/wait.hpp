// Small helpers for tests that watch a daemon: poll a condition with a deadline, count log lines.
#pragma once

#include <chrono>
#include <string>
#include <thread>

namespace swiftness::testing {

// Polls `pred` every 50 ms until it holds or `limit` has passed; returns its last value.
template <class F>
bool wait_until(F pred, std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

// How often `needle` occurs in `hay` (overlaps counted).
inline size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1))
    ++n;
  return n;
}

}  // namespace swiftness::testing
