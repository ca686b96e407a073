// The load generator's watchdog: ends a run that outlives every bound it has, saying what
// each session was doing. Used by iscsi-loadgen (loadgen_main.cpp).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace swiftness::bench {

// What a session is doing, readable from the watchdog thread while the session's own thread
// runs (relaxed atomics: a diagnostic snapshot, not synchronisation).
struct Progress {
  std::atomic<int> outstanding{0};
  std::atomic<uint64_t> completed{0};
  std::atomic<int64_t> last_completion_ms{-1};  // since the run started; -1: none yet
};

// Ends a run that outlived every bound the run has, with what each session was doing on
// stderr. A session should never need it: every PDU has libiscsi's --timeout. But a TCP connect
// that is never answered has no timeout, and a client hanging silently until a test kills it
// leaves nothing to diagnose (its buffered stdout is lost with it).
class Watchdog {
 public:
  explicit Watchdog(std::chrono::steady_clock::time_point start)
      : start_(start), thread_([this] { watch(); }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // From now on the run is in `phase`, which must end within `bound` (zero: unbounded).
  void phase(std::string name, std::chrono::steady_clock::duration bound) {
    {
      std::lock_guard lock(mu_);
      phase_ = std::move(name);
      deadline_ = bound.count() > 0 ? std::chrono::steady_clock::now() + bound
                                    : std::chrono::steady_clock::time_point::max();
    }
    cv_.notify_all();
  }
  void watch_sessions(const std::vector<Progress>* progress) {
    std::lock_guard lock(mu_);
    progress_ = progress;
  }

 private:
  void watch();

  const std::chrono::steady_clock::time_point start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::string phase_ = "start";
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  const std::vector<Progress>* progress_ = nullptr;
  std::thread thread_;  // last: starts once the rest is initialised
};

}  // namespace swiftness::bench
