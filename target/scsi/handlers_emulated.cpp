// Commands emulated over read/write/unmap (design.md §1): COMPARE AND WRITE, ORWRITE,
// WRITE SAME, UNMAP, GET LBA STATUS.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/bytes.hpp"
#include "target/scsi/handlers.hpp"
#include "target/scsi/vpd.hpp"

namespace swiftness::scsi {

using boost::asio::awaitable;

awaitable<CommandResult> handle_compare_and_write(Ctx& c) {
  const uint32_t bs = c.geo.block_size;
  if (c.blocks > kMaxCompareAndWriteBlocks) co_return c.invalid_cdb_field(13);
  const size_t bytes = size_t(c.blocks) * bs;
  // The data-out buffer holds the verify data then the write data: exactly 2 x blocks. (A
  // 256-block request wraps the one-byte field to 0 and arrives with data: rejected here.)
  if (c.cmd.data_out.size() != 2 * bytes) co_return c.invalid_cdb_field(13);
  // SBC-3 5.2: NUMBER OF LOGICAL BLOCKS 0 is not an error and transfers nothing.
  if (c.blocks == 0) co_return good();
  // Exclusive hold: no other write to these blocks between our read and our write.
  RangeLock::Hold hold = co_await c.lu->ranges().acquire(c.lba, c.blocks, true);
  std::vector<std::byte> medium(bytes);
  auto res = co_await c.lu->device().read(c.lba, medium);
  if (!res) co_return c.storage_error(res.error(), false);
  if (std::memcmp(medium.data(), c.cmd.data_out.data(), bytes) != 0) {
    size_t i = 0;
    while (medium[i] == c.cmd.data_out[i])
      ++i;
    // MISCOMPARE DURING VERIFY OPERATION, INFORMATION = offset of the first differing byte.
    co_return c.fail(SenseInfo{SenseReason::miscompare_during_verify, uint64_t(i)});
  }
  const bool fua = (c.cdb[1] & 0x08) || !c.lu->write_cache_enabled();
  res = co_await c.lu->device().write(c.lba, c.cmd.data_out.subspan(bytes, bytes), {fua});
  if (!res) co_return c.storage_error(res.error(), true);
  co_return good();
}

awaitable<CommandResult> handle_orwrite(Ctx& c) {
  const uint32_t bs = c.geo.block_size;
  const uint64_t blocks = std::min<uint64_t>(c.blocks, c.cmd.data_out.size() / bs);
  if (blocks == 0) co_return good();
  RangeLock::Hold hold = co_await c.lu->ranges().acquire(c.lba, blocks, true);
  std::vector<std::byte> buf(blocks * bs);
  auto res = co_await c.lu->device().read(c.lba, buf);
  if (!res) co_return c.storage_error(res.error(), false);
  // SBC-3 5.8: the new data is the old data OR the data-out buffer.
  for (size_t i = 0; i < buf.size(); ++i)
    buf[i] |= c.cmd.data_out[i];
  const bool fua = (c.cdb[1] & 0x08) || !c.lu->write_cache_enabled();
  res = co_await c.lu->device().write(c.lba, buf, {fua});
  if (!res) co_return c.storage_error(res.error(), true);
  co_return good();
}

awaitable<CommandResult> handle_write_same(Ctx& c) {
  const uint32_t bs = c.geo.block_size;
  const bool unmap = c.cdb[1] & 0x08;
  const uint16_t count_byte = c.spec.opcode == 0x41 ? 7 : 10;
  // SBC-3 5.43 (WSNZ=0 in VPD B0): NUMBER OF LOGICAL BLOCKS 0 means "to the last block".
  // Either way the count may not exceed MAXIMUM WRITE SAME LENGTH.
  const uint64_t blocks = c.blocks != 0 ? c.blocks : c.geo.block_count - c.lba;
  if (blocks > kMaxWriteSameBlocks) co_return c.invalid_cdb_field(count_byte);
  // UNMAP on a fully provisioned LU (LBPME=0, LBPWS=0) is an invalid field (SBC-3 5.43).
  if (unmap && !c.geo.thin) co_return c.invalid_cdb_field(1, 3);
  // WRITE SAME (16) NDOB (SBC-4 5.49): no data-out buffer, the block is all zeros.
  const bool ndob = c.spec.opcode == 0x93 && (c.cdb[1] & 0x01);
  static const std::vector<std::byte> kZeroBlock(65536);
  if (ndob ? !c.cmd.data_out.empty() : c.cmd.data_out.size() != bs)
    co_return c.invalid_cdb_field(count_byte);  // exactly one block of data-out, or none
  const auto pattern =
      ndob ? std::span<const std::byte>(kZeroBlock).first(bs) : c.cmd.data_out.first(bs);
  if (blocks == 0) co_return good();  // LBA == capacity with "to the end": nothing to do
  RangeLock::Hold hold = co_await c.lu->ranges().acquire(c.lba, blocks, false);
  // SBC-3 5.43 / 4.7.3.4: with UNMAP set a thin LU unmaps the range whatever the data-out block
  // holds; with LBPRZ=1 it then reads back as zeros (libiscsi WriteSame10.UnmapUntilEnd sends a
  // block of FFh). A block of zeros without UNMAP is still written: the blocks stay mapped.
  if (unmap) {
    core::LbaRange r{c.lba, blocks};
    auto res = co_await c.lu->device().unmap(std::span(&r, 1));
    if (!res) co_return c.storage_error(res.error(), true);
    co_return good();
  }
  const uint64_t chunk_blocks = std::max<uint64_t>(1, (1u << 20) / bs);
  std::vector<std::byte> buf(std::min(blocks, chunk_blocks) * bs);
  for (size_t off = 0; off < buf.size(); off += bs)
    std::memcpy(&buf[off], pattern.data(), bs);
  const bool fua = !c.lu->write_cache_enabled();
  for (uint64_t done = 0; done < blocks;) {
    const uint64_t n = std::min(chunk_blocks, blocks - done);
    auto res = co_await c.lu->device().write(c.lba + done, std::span(buf).first(n * bs), {fua});
    if (!res) co_return c.storage_error(res.error(), true);
    done += n;
  }
  co_return good();
}

awaitable<CommandResult> handle_unmap(Ctx& c) {
  if (!c.geo.thin) co_return c.fail(SenseReason::invalid_command_operation_code);
  const uint16_t param_len = core::load_be16(&c.cdb[7]);
  if (param_len == 0) co_return good();
  const auto& p = c.cmd.data_out;
  auto bad_param = [&](uint16_t byte) {
    return c.fail(SenseInfo{SenseReason::invalid_field_in_parameter_list, std::nullopt,
                            FieldPointer{false, byte, -1}});
  };
  // SBC-3 5.28.2: header of 8 bytes, then 16-byte block descriptors.
  if (param_len < 8 || p.size() < 8) co_return c.fail(SenseReason::parameter_list_length_error);
  const auto* b = reinterpret_cast<const uint8_t*>(p.data());
  const size_t avail = std::min<size_t>(p.size(), param_len);
  const size_t desc_len = std::min<size_t>(core::load_be16(b + 2), avail - 8) & ~size_t(15);
  const size_t n = desc_len / 16;
  if (n > c.geo.max_unmap_descriptors) co_return bad_param(2);
  std::vector<core::LbaRange> ranges;
  ranges.reserve(n);
  uint64_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* d = b + 8 + 16 * i;
    const uint64_t lba = core::load_be64(d);
    const uint32_t count = core::load_be32(d + 8);
    if (lba > c.geo.block_count || count > c.geo.block_count - lba)
      co_return c.fail(SenseInfo{SenseReason::lba_out_of_range, lba});
    if (count > c.geo.max_unmap_blocks) co_return bad_param(uint16_t(8 + 16 * i + 8));
    total += count;
    if (count) ranges.push_back({lba, count});
  }
  (void)total;
  if (ranges.empty()) co_return good();
  auto res = co_await c.lu->device().unmap(ranges);
  if (!res) co_return c.storage_error(res.error(), true);
  co_return good();
}

awaitable<CommandResult> handle_get_lba_status(Ctx& c) {
  DataInWriter w(c.cmd.data_in, core::load_be32(&c.cdb[10]));
  // SBC-3 5.6: LBA status descriptors from the STARTING LBA, as many as fit (at most 64).
  size_t off = 8;
  uint64_t lba = c.lba;
  const size_t max_desc = std::clamp<size_t>((std::max<size_t>(w.capacity(), 8) - 8) / 16, 1, 64);
  for (size_t i = 0; i < max_desc && lba < c.geo.block_count; ++i) {
    auto st = co_await c.lu->device().lba_status(lba);
    if (!st) co_return c.storage_error(st.error(), false);
    uint64_t count = std::max<uint64_t>(1, st->range.count);
    count = std::min<uint64_t>({count, c.geo.block_count - lba, 0xffffffffu});
    w.u64(off, lba);
    w.u32(off + 8, uint32_t(count));
    w.u8(off + 12, st->mapped ? 0x00 : 0x01);  // PROVISIONING STATUS: 0 mapped, 1 deallocated
    off += 16;
    lba += count;
  }
  w.extend(off);
  w.u32(0, uint32_t(off - 4));  // PARAMETER DATA LENGTH
  co_return c.data_in(w);
}

}  // namespace swiftness::scsi
