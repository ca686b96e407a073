// A BlockDevice that counts what passes through it into a LUN's IoMetrics (commands, bytes,
// errors, latency) and forwards everything else unchanged.
//
// Why a decorator at the BlockDevice boundary rather than counters inside target/scsi: it keeps
// the SCSI and cache layers free of metrics, works for every backend, and costs one extra
// coroutine frame (Asio recycles frames per thread) plus a few relaxed increments per I/O. It
// measures the storage latency the initiator waits for, without the iSCSI transfer time.
#pragma once

#include <memory>

#include "core/block_device.hpp"
#include "core/metrics.hpp"

namespace swiftness::admin {

class MeteredDevice final : public core::BlockDevice {
 public:
  MeteredDevice(std::shared_ptr<core::BlockDevice> inner,
                std::shared_ptr<core::metrics::IoMetrics> metrics)
      : inner_(std::move(inner)), m_(std::move(metrics)) {}

  core::BlockGeometry geometry() const override { return inner_->geometry(); }
  boost::asio::awaitable<core::Result<void>> read(core::Lba lba, std::span<std::byte> buf) override;
  boost::asio::awaitable<core::Result<void>> write(core::Lba lba, std::span<const std::byte> buf,
                                                   core::WriteFlags flags) override;
  boost::asio::awaitable<core::Result<void>> flush(core::LbaRange range) override;
  boost::asio::awaitable<core::Result<void>> unmap(std::span<const core::LbaRange> ranges) override;
  boost::asio::awaitable<core::Result<core::LbaStatus>> lba_status(core::Lba lba) override;

  const std::shared_ptr<core::BlockDevice>& inner() const { return inner_; }

 private:
  std::shared_ptr<core::BlockDevice> inner_;
  std::shared_ptr<core::metrics::IoMetrics> m_;
};

}  // namespace swiftness::admin
