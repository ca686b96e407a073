#include "target/storage/ram_block_device.hpp"

#include <algorithm>
#include <cstring>

namespace swiftness::storage {

using boost::asio::awaitable;
using core::block_errc;
using core::Result;

RamBlockDevice::RamBlockDevice(uint32_t block_size, uint64_t block_count, bool thin) {
  geometry_.block_size = block_size;
  geometry_.block_count = block_count;
  geometry_.thin = thin;
  geometry_.optimal_transfer_blocks = 0;
  geometry_.max_transfer_blocks = (8u << 20) / block_size;
  if (thin) {
    geometry_.unmap_granularity_blocks = 1;
    geometry_.max_unmap_blocks = 0x100000;
    geometry_.max_unmap_descriptors = 256;
  }
  data_.resize(size_t(block_size) * block_count);
  mapped_.assign(block_count, !thin);
}

core::BlockGeometry RamBlockDevice::geometry() const {
  std::lock_guard lock(mu_);
  return geometry_;
}

bool RamBlockDevice::in_range(core::Lba lba, uint64_t blocks) const {
  return lba <= geometry_.block_count && blocks <= geometry_.block_count - lba;
}

awaitable<Result<void>> RamBlockDevice::read(core::Lba lba, std::span<std::byte> buf) {
  std::lock_guard lock(mu_);
  if (!in_range(lba, buf.size() / geometry_.block_size)) co_return block_errc::out_of_range;
  std::memcpy(buf.data(), data_.data() + lba * geometry_.block_size, buf.size());
  co_return Result<void>{};
}

awaitable<Result<void>> RamBlockDevice::write(core::Lba lba, std::span<const std::byte> buf,
                                              core::WriteFlags flags) {
  std::lock_guard lock(mu_);
  const uint64_t blocks = buf.size() / geometry_.block_size;
  if (!in_range(lba, blocks)) co_return block_errc::out_of_range;
  if (geometry_.read_only) co_return block_errc::write_protected;
  std::memcpy(data_.data() + lba * geometry_.block_size, buf.data(), buf.size());
  std::fill_n(mapped_.begin() + lba, blocks, true);
  if (flags.fua) ++fua_writes_;
  co_return Result<void>{};
}

awaitable<Result<void>> RamBlockDevice::flush(core::LbaRange) {
  std::lock_guard lock(mu_);
  ++flushes_;
  co_return Result<void>{};
}

awaitable<Result<void>> RamBlockDevice::unmap(std::span<const core::LbaRange> ranges) {
  std::lock_guard lock(mu_);
  for (const auto& r : ranges) {
    if (!in_range(r.lba, r.count)) co_return block_errc::out_of_range;
    std::memset(data_.data() + r.lba * geometry_.block_size, 0, r.count * geometry_.block_size);
    std::fill_n(mapped_.begin() + r.lba, r.count, false);
  }
  co_return Result<void>{};
}

awaitable<Result<core::LbaStatus>> RamBlockDevice::lba_status(core::Lba lba) {
  std::lock_guard lock(mu_);
  if (lba >= geometry_.block_count) co_return block_errc::out_of_range;
  const bool state = mapped_[lba];
  uint64_t end = lba;
  while (end < geometry_.block_count && mapped_[end] == state)
    ++end;
  co_return core::LbaStatus{{lba, end - lba}, state};
}

uint64_t RamBlockDevice::flush_count() const {
  std::lock_guard lock(mu_);
  return flushes_;
}

uint64_t RamBlockDevice::fua_write_count() const {
  std::lock_guard lock(mu_);
  return fua_writes_;
}

void RamBlockDevice::resize(uint64_t block_count) {
  std::lock_guard lock(mu_);
  geometry_.block_count = block_count;
  data_.resize(size_t(geometry_.block_size) * block_count);
  mapped_.resize(block_count, !geometry_.thin);
}

void RamBlockDevice::set_read_only(bool ro) {
  std::lock_guard lock(mu_);
  geometry_.read_only = ro;
}

}  // namespace swiftness::storage
