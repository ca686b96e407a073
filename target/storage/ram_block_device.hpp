// A block device in memory, for tests. Optionally thin: tracks which blocks are mapped so GET LBA
// STATUS and UNMAP behave like a real thin device. Thread-safe (one mutex; tests only).
#pragma once

#include <mutex>
#include <vector>

#include "core/block_device.hpp"

namespace swiftness::storage {

class RamBlockDevice final : public core::BlockDevice {
 public:
  RamBlockDevice(uint32_t block_size, uint64_t block_count, bool thin = false);

  core::BlockGeometry geometry() const override;
  boost::asio::awaitable<core::Result<void>> read(core::Lba lba, std::span<std::byte> buf) override;
  boost::asio::awaitable<core::Result<void>> write(core::Lba lba, std::span<const std::byte> buf,
                                                   core::WriteFlags flags) override;
  boost::asio::awaitable<core::Result<void>> flush(core::LbaRange range) override;
  boost::asio::awaitable<core::Result<void>> unmap(std::span<const core::LbaRange> ranges) override;
  boost::asio::awaitable<core::Result<core::LbaStatus>> lba_status(core::Lba lba) override;

  // Test hooks: counters of calls the device received, and a way to change the size (resize).
  uint64_t flush_count() const;
  uint64_t fua_write_count() const;
  void resize(uint64_t block_count);
  void set_read_only(bool ro);

 private:
  bool in_range(core::Lba lba, uint64_t blocks) const;

  mutable std::mutex mu_;
  core::BlockGeometry geometry_;
  std::vector<std::byte> data_;
  std::vector<bool> mapped_;
  uint64_t flushes_ = 0;
  uint64_t fua_writes_ = 0;
};

}  // namespace swiftness::storage
