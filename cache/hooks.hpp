// Named hooks that tests use to force interleavings (design.md §4, RocksDB's SyncPoint): the
// engine awaits hooks.run("upload.after_put") at fixed points; a test installs a function that
// waits, injects a fault or simulates a crash there. Unset hooks cost one map lookup.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace swiftness::cache {

class Hooks {
 public:
  using Fn = std::function<boost::asio::awaitable<void>()>;

  void set(const std::string& name, Fn fn) {
    std::lock_guard lock(mu_);
    fns_[name] = std::move(fn);
  }
  void clear(const std::string& name) {
    std::lock_guard lock(mu_);
    fns_.erase(name);
  }
  boost::asio::awaitable<void> run(std::string_view name) {
    Fn fn;
    {
      std::lock_guard lock(mu_);
      auto it = fns_.find(std::string(name));
      if (it == fns_.end()) co_return;
      fn = it->second;
    }
    co_await fn();
  }

 private:
  std::mutex mu_;
  std::map<std::string, Fn> fns_;
};

// Hook points, in the order an upload meets them.
inline constexpr std::string_view kHookUploadBeforePut = "upload.before_put";
inline constexpr std::string_view kHookUploadAfterPut = "upload.after_put";  // before the commit
inline constexpr std::string_view kHookIndexBeforePut = "index.before_put";
inline constexpr std::string_view kHookFetchAfterGet = "fetch.after_get";

}  // namespace swiftness::cache
