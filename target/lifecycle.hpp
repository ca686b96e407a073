// What changes while the daemon runs: SIGHUP (or POST /reload on the admin endpoint) reloads
// the configuration (added LUNs appear, removed ones are drained and detached, grown ones grow in
// place, CHAP and the allowed initiators apply to new logins), and SIGTERM/SIGINT drain dirty
// data to Swift up to cache.shutdown_drain_s before exiting.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "target/lun_attach.hpp"
#include "target/reload_outcome.hpp"

namespace swiftness::iscsi {
struct TargetContext;
}

namespace swiftness::target {

// What a reload may change without a restart, and what it may not (compared field by field).
struct ReloadPlan {
  std::vector<config::Lun> added;
  std::vector<config::Lun> removed;
  std::vector<config::Lun> grown;    // only `size` changed, and it grew: the new entries
  std::vector<std::string> refused;  // "luns[0]: ..." reasons the new file cannot be applied live
  bool login_changed = false;        // CHAP, mutual CHAP, discovery CHAP, allowed initiators
};
ReloadPlan plan_reload(const config::Config& running, const config::Config& next);

class Lifecycle {
 public:
  // `make_store` builds the Swift client the first time a Swift LUN is added by a reload when
  // none was needed at start.
  Lifecycle(
      std::string config_path, config::Config running, AttachContext attach,
      std::function<std::shared_ptr<core::ObjectStore>(const config::SwiftSection&)> make_store,
      std::shared_ptr<iscsi::TargetContext> target, std::vector<AttachedLun> luns);

  // SIGHUP or POST /reload: re-reads and validates the file; on any error logs every one and
  // keeps running as before. Reloads (and shutdown) never overlap: a second caller waits.
  boost::asio::awaitable<ReloadOutcome> reload();
  // SIGTERM/SIGINT, after the portals stopped accepting and the connections were dropped: waits
  // (bounded) for commands still running, drains every Swift LUN to one shared deadline, then
  // closes the caches. Whatever is still dirty stays in the cache journal; it is logged.
  boost::asio::awaitable<void> shutdown();

  const config::Config& running() const { return running_; }

 private:
  boost::asio::awaitable<void> detach(AttachedLun lun,
                                      std::chrono::steady_clock::time_point drain_deadline);
  boost::asio::awaitable<core::Result<void>> grow(AttachedLun& lun, uint64_t size_bytes);
  boost::asio::awaitable<ReloadOutcome> reload_locked();
  // Waits while another reload or the shutdown runs (polled: these are rare and slow).
  boost::asio::awaitable<void> lock();
  void unlock() { busy_.store(false, std::memory_order_release); }

  std::string path_;
  config::Config running_;
  AttachContext attach_;
  std::function<std::shared_ptr<core::ObjectStore>(const config::SwiftSection&)> make_store_;
  std::shared_ptr<iscsi::TargetContext> target_;
  std::vector<AttachedLun> luns_;
  std::atomic<bool> busy_{false};
};

}  // namespace swiftness::target
