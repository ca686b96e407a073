// The daemon's side of the admin endpoint: what /metrics, /status, /drain, /reload and the image
// routes answer, from the objects serve() wires together. serve() calls attach_lun() for each
// LUN (it returns the metered device to hand to the SCSI layer), set_target() once the iSCSI
// context exists, set_reload(), then start(). Never exposes a secret: CHAP and Swift credentials
// are not even kept.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <string>

#include "core/block_device.hpp"
#include "core/metrics.hpp"
#include "core/result.hpp"
#include "target/reload_outcome.hpp"

namespace swiftness::config {
struct Config;
struct Lun;
}  // namespace swiftness::config
namespace swiftness::cache {
class CachedLun;
}
namespace swiftness::iscsi {
struct TargetContext;
}

namespace swiftness::target {

class AdminService {
 public:
  AdminService(const config::Config& cfg, boost::asio::any_io_executor ex);
  ~AdminService();

  std::shared_ptr<core::metrics::HttpMetrics> swift_metrics() const;
  // Registers a LUN; returns the device the SCSI layer should use (counts I/O for /metrics).
  std::shared_ptr<core::BlockDevice> attach_lun(const config::Lun& lun,
                                                std::shared_ptr<core::BlockDevice> device,
                                                std::shared_ptr<cache::CachedLun> cached);
  // A LUN removed by a reload leaves /status and /metrics (a running drain or image transfer
  // keeps its entry alive until it ends).
  void detach_lun(uint32_t id);
  void set_target(std::shared_ptr<iscsi::TargetContext> ctx);
  // POST /reload runs this (the same reload as SIGHUP) and answers with its outcome. Set before
  // start().
  void set_reload(std::function<boost::asio::awaitable<ReloadOutcome>()> reload);
  // Binds the Unix socket and/or the loopback port of the config's admin section.
  core::Result<void> start();
  void stop();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace swiftness::target
