// The SCSI layer's whole view of storage (design.md §1). Implementations: the file and RAM
// devices in target/storage, and the Swift-backed write-back cache in cache/.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/result.hpp"

namespace swiftness::core {

using Lba = uint64_t;

struct LbaRange {
  Lba lba = 0;
  uint64_t count = 0;  // in logical blocks
  friend bool operator==(const LbaRange&, const LbaRange&) = default;
};

// What the device can do; INQUIRY VPD B0/B2 and READ CAPACITY(16) are derived from this so they
// never disagree with the device.
struct BlockGeometry {
  uint32_t block_size = 512;             // logical block length in bytes (512 or 4096)
  uint64_t block_count = 0;              // number of logical blocks
  uint32_t physical_block_exponent = 0;  // log2(physical / logical), for RC16
  uint32_t optimal_transfer_blocks = 0;  // VPD B0 OPTIMAL TRANSFER LENGTH, 0 = not reported
  uint32_t max_transfer_blocks = 0;      // VPD B0 MAXIMUM TRANSFER LENGTH, 0 = no limit
  bool thin = false;                     // unmap supported, unmapped blocks read as zeros
  bool read_only = false;
  bool non_rotational = true;
  uint32_t unmap_granularity_blocks = 1;  // VPD B0 OPTIMAL UNMAP GRANULARITY
  uint32_t max_unmap_blocks = 0;          // per UNMAP command, 0 = unmap unsupported
  uint32_t max_unmap_descriptors = 0;
};

struct WriteFlags {
  bool fua = false;  // force unit access: durable on stable storage before completion
};

// Mapping state of a range, for GET LBA STATUS.
struct LbaStatus {
  LbaRange range;
  bool mapped = true;
};

class BlockDevice {
 public:
  virtual ~BlockDevice() = default;

  virtual BlockGeometry geometry() const = 0;

  // `buf.size()` is a whole number of blocks; the range is checked by the caller (SCSI layer).
  virtual boost::asio::awaitable<Result<void>> read(Lba lba, std::span<std::byte> buf) = 0;
  virtual boost::asio::awaitable<Result<void>> write(Lba lba, std::span<const std::byte> buf,
                                                     WriteFlags flags) = 0;
  // SYNCHRONIZE CACHE: everything written in `range` (count 0 = to the end) is durable on return.
  virtual boost::asio::awaitable<Result<void>> flush(LbaRange range) = 0;
  // Deallocate; later reads return zeros. Only called when geometry().thin.
  virtual boost::asio::awaitable<Result<void>> unmap(std::span<const LbaRange> ranges) = 0;
  // The mapping state starting at `lba`: one run of equal state (GET LBA STATUS). Devices that
  // do not track allocation report everything mapped.
  virtual boost::asio::awaitable<Result<LbaStatus>> lba_status(Lba lba) {
    co_return LbaStatus{{lba, geometry().block_count - lba}, true};
  }
};

}  // namespace swiftness::core
