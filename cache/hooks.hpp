// Named hooks that tests use to force interleavings (design.md §4, RocksDB's SyncPoint): the
// engine awaits hooks.run("upload.after_put") at fixed points; a test installs a function that
// waits, injects a fault or simulates a crash there. Unset hooks cost one map lookup.
//
// A test that runs the whole daemon cannot install functions, so a hook point can also pause:
// SWIFTNESS_PAUSE_AT="gc.before_delete:3000,index.before_put:3000" makes the engine log
// "pause point <name>: pausing <ms> ms" and wait there, which gives the crash soak
// (tests/soak) a known moment to kill -9 the daemon in; "<name>:kill" makes the process
// SIGKILL itself there instead (for moments a test cannot reach from outside, such as the
// checkpoint inside a restart). Unset, it costs nothing more.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace swiftness::cache {

class Hooks {
 public:
  using Fn = std::function<boost::asio::awaitable<void>()>;

  // Hooks with the pauses of the environment variable SWIFTNESS_PAUSE_AT ("name:ms,..." or
  // "name:kill"); a malformed item is logged and ignored.
  static std::shared_ptr<Hooks> from_environment();

  void set(const std::string& name, Fn fn) {
    std::lock_guard lock(mu_);
    fns_[name] = std::move(fn);
  }
  void clear(const std::string& name) {
    std::lock_guard lock(mu_);
    fns_.erase(name);
  }
  // A negative duration: SIGKILL the process at that point.
  void set_pause(const std::string& name, std::chrono::milliseconds d) {
    std::lock_guard lock(mu_);
    pauses_[name] = d;
  }
  boost::asio::awaitable<void> run(std::string_view name);
  // For hook points in blocking code (pool threads): only pauses apply there.
  void run_blocking(std::string_view name);

 private:
  std::chrono::milliseconds pause_for(std::string_view name);

  std::mutex mu_;
  std::map<std::string, Fn> fns_;
  std::map<std::string, std::chrono::milliseconds, std::less<>> pauses_;
};

// Hook points, in the order an upload meets them.
inline constexpr std::string_view kHookUploadBeforePut = "upload.before_put";
inline constexpr std::string_view kHookUploadAfterPut = "upload.after_put";  // before the commit
inline constexpr std::string_view kHookIndexBeforePut = "index.before_put";
// The index object is in Swift, index.pointer still names the previous one.
inline constexpr std::string_view kHookIndexBeforePointer = "index.before_pointer";
inline constexpr std::string_view kHookFetchAfterGet = "fetch.after_get";
// Garbage collection: the records are durable, the bulk delete not sent / done but not recorded.
inline constexpr std::string_view kHookGcBeforeDelete = "gc.before_delete";
inline constexpr std::string_view kHookGcAfterDelete = "gc.after_delete";
// Local checkpoint (blocking): the new journal is in use and the new checkpoint written to its
// temporary file, not yet renamed over the old one.
inline constexpr std::string_view kHookCheckpointBeforeRename = "checkpoint.before_rename";

}  // namespace swiftness::cache
