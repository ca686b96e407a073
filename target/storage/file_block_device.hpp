// A LUN in a local (sparse) file. Reads and writes are pread/pwrite on the blocking-work pool
// passed in, never on the io_context threads (design.md §8); completion resumes on the caller's
// executor. Small reads the page cache holds (RWF_NOWAIT) and small writes io_uring takes
// without blocking complete on the io thread itself (where the file system has non-blocking
// buffered writes; ext4 has not, and then writes take the pool, as tgt's do). FUA writes and flush
// reach stable storage (fdatasync / RWF_DSYNC). Large non-FUA writes go to the file in 64 KiB
// pieces so the page cache keeps small folios and later 4 KiB writes stay cheap on ext4 (pages
// that came in through readahead still arrive in large folios). Thin files punch holes for UNMAP
// and report allocation with SEEK_DATA/SEEK_HOLE; thick files are fully allocated up front.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "core/block_device.hpp"
#include "target/storage/uring.hpp"

namespace swiftness::storage {

struct FileBlockDeviceOptions {
  std::string path;
  uint64_t size_bytes = 0;  // the file is created or extended to this size (never shrunk)
  uint32_t block_size = 512;
  bool thin = true;  // false: allocate every block now (fallocate), no UNMAP
  bool read_only = false;
  uint32_t max_transfer_bytes = 8u << 20;
  // Reported physical block size (READ CAPACITY (16) exponent); 0 = the logical block size.
  // Left at 0 by default: libiscsi's GetLBAStatus.UnmapSingle assumes one logical block per
  // physical block.
  uint32_t physical_block_size = 0;
};

class FileBlockDevice final : public core::BlockDevice {
 public:
  // Opens (creating if needed) and sizes the file. `blocking` runs the system calls that may
  // block; with `io` (the io_context's executor) small writes go through io_uring instead.
  static core::Result<std::shared_ptr<FileBlockDevice>> open(const FileBlockDeviceOptions& opts,
                                                             boost::asio::any_io_executor blocking,
                                                             boost::asio::any_io_executor io = {});
  ~FileBlockDevice() override;
  FileBlockDevice(const FileBlockDevice&) = delete;
  FileBlockDevice& operator=(const FileBlockDevice&) = delete;

  core::BlockGeometry geometry() const override {
    core::BlockGeometry g = geometry_;
    g.block_count = block_count_.load(std::memory_order_acquire);
    return g;
  }
  boost::asio::awaitable<core::Result<void>> read(core::Lba lba, std::span<std::byte> buf) override;
  boost::asio::awaitable<core::Result<void>> write(core::Lba lba, std::span<const std::byte> buf,
                                                   core::WriteFlags flags) override;
  boost::asio::awaitable<core::Result<void>> flush(core::LbaRange range) override;
  boost::asio::awaitable<core::Result<void>> unmap(std::span<const core::LbaRange> ranges) override;
  boost::asio::awaitable<core::Result<core::LbaStatus>> lba_status(core::Lba lba) override;

  // Extends the file to `size_bytes` (thick files: allocated too) while the LUN is in use; the
  // SCSI layer notices the new block count. Shrinking is refused (invalid_argument).
  boost::asio::awaitable<core::Result<void>> grow(uint64_t size_bytes);

  // How many times data was forced to stable storage (fdatasync or a RWF_DSYNC write); tests use
  // it to check that FUA and SYNCHRONIZE CACHE really sync.
  uint64_t sync_count() const { return syncs_.load(std::memory_order_relaxed); }

  // Whether small writes still try io_uring: after kUringProbeWrites of them it stays on only
  // if at least one in eight completed without blocking.
  bool uring_writes_on() const { return uring_ && uring_on_.load(std::memory_order_relaxed); }
  uint64_t uring_writes_inline() const { return uring_inline_.load(std::memory_order_relaxed); }
  static constexpr uint64_t kUringProbeWrites = 256;

 private:
  FileBlockDevice(int fd, core::BlockGeometry g, boost::asio::any_io_executor blocking,
                  std::shared_ptr<UringQueue> uring)
      : fd_(fd),
        geometry_(g),
        block_count_(g.block_count),
        blocking_(std::move(blocking)),
        uring_(std::move(uring)) {}

  int fd_;
  core::BlockGeometry geometry_;       // block_count: see block_count_
  std::atomic<uint64_t> block_count_;  // changes when the LUN grows
  boost::asio::any_io_executor blocking_;
  void note_uring_result(bool done_inline);

  std::shared_ptr<UringQueue> uring_;  // null: writes take the pool
  std::atomic<bool> uring_on_{true};
  std::atomic<uint64_t> uring_tries_{0};
  std::atomic<uint64_t> uring_inline_{0};
  std::atomic<uint64_t> syncs_{0};
  // Cleared the first time the file system refuses RWF_NOWAIT writes (ext4 buffered writes do).
  std::atomic<bool> nowait_writes_{true};
};

}  // namespace swiftness::storage
