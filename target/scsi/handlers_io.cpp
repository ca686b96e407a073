// READ, WRITE, WRITE AND VERIFY, VERIFY, SYNCHRONIZE CACHE, PRE-FETCH: the data path. Per-I/O
// work is kept to the range hold and one device call.
#include <algorithm>
#include <cstring>
#include <vector>

#include "target/scsi/handlers.hpp"

namespace swiftness::scsi {

using boost::asio::awaitable;

namespace {

bool fua_requested(const Ctx& c) {
  // byte 1 FUA(3) where the CDB has it; WCE=0 makes every write write-through (SBC-3 6.4.5).
  const bool fua_bit = (c.spec.flags & cmd_flag::kFuaBits) && (c.cdb[1] & 0x08);
  return fua_bit;
}

// First differing byte, for the miscompare INFORMATION field (SBC-3 5.3).
std::optional<size_t> first_difference(const std::byte* a, const std::byte* b, size_t n) {
  if (std::memcmp(a, b, n) == 0) return std::nullopt;
  for (size_t i = 0; i < n; ++i)
    if (a[i] != b[i]) return i;
  return std::nullopt;
}

}  // namespace

awaitable<CommandResult> handle_read(Ctx& c) {
  const size_t bytes = size_t(c.blocks) * c.geo.block_size;
  CommandResult r;
  if (bytes == 0) co_return r;  // SBC-3: TRANSFER LENGTH 0 transfers nothing, not an error
  auto& dev = c.lu->device();
  if (c.cmd.data_in.size() >= bytes) {
    auto res = co_await dev.read(c.lba, c.cmd.data_in.first(bytes));
    if (!res) co_return c.storage_error(res.error(), false);
    r.data_in_length = uint32_t(bytes);
  } else {
    // EDTL shorter than the command: transfer what fits, report the overflow residual.
    std::vector<std::byte> tmp(bytes);
    auto res = co_await dev.read(c.lba, tmp);
    if (!res) co_return c.storage_error(res.error(), false);
    // EDTL 0 comes with a null span: no memcpy into it (undefined even for 0 bytes; fuzz_scsi).
    if (!c.cmd.data_in.empty()) std::memcpy(c.cmd.data_in.data(), tmp.data(), c.cmd.data_in.size());
    r.data_in_length = uint32_t(c.cmd.data_in.size());
  }
  r.full_length = uint32_t(bytes);
  co_return r;
}

awaitable<CommandResult> handle_write(Ctx& c) {
  const uint32_t bs = c.geo.block_size;
  // Write only whole blocks the initiator actually sent: with EDTL short of the command, the
  // rest is residual and must not be written (libiscsi Write10Residuals).
  const uint64_t blocks = std::min<uint64_t>(c.blocks, c.cmd.data_out.size() / bs);
  CommandResult done;
  // What the command wanted to move, so the transport reports over/underflow against EDTL.
  done.full_length = uint32_t(std::min<uint64_t>(c.blocks * bs, 0xffffffffu));
  if (blocks == 0) co_return done;
  RangeLock::Hold hold;
  if (!c.lu->ranges().try_acquire(c.lba, blocks, false, hold))
    hold = co_await c.lu->ranges().acquire(c.lba, blocks, false);
  const bool fua = fua_requested(c) || !c.lu->write_cache_enabled();
  auto res = co_await c.lu->device().write(c.lba, c.cmd.data_out.first(blocks * bs), {fua});
  if (!res) co_return c.storage_error(res.error(), true);
  co_return done;
}

awaitable<CommandResult> handle_write_and_verify(Ctx& c) {
  // The write reaches the device (and so is readable) before GOOD; the verify step compares
  // what we just wrote, so BYTCHK needs no second transfer (SBC-3 5.37).
  const uint8_t bytchk = (c.cdb[1] >> 1) & 0x03;
  if (bytchk == 2) co_return c.invalid_cdb_field(1, 2);
  co_return co_await handle_write(c);
}

awaitable<CommandResult> handle_verify(Ctx& c) {
  // byte 1: VRPROTECT(7-5) DPO(4) BYTCHK(2-1). 00b: medium check; 01b: compare the data-out
  // blocks; 11b: compare one data-out block against every block (SBC-3 5.33 / SBC-4).
  const uint8_t bytchk = (c.cdb[1] >> 1) & 0x03;
  if (bytchk == 2) co_return c.invalid_cdb_field(1, 2);
  const uint32_t bs = c.geo.block_size;
  const size_t bytes = size_t(c.blocks) * bs;
  if (bytes == 0) co_return good();
  std::vector<std::byte> medium(bytes);
  auto res = co_await c.lu->device().read(c.lba, medium);
  if (!res) co_return c.storage_error(res.error(), false);
  if (bytchk == 0) co_return good();
  const auto& out = c.cmd.data_out;
  const size_t need = bytchk == 1 ? bytes : bs;
  if (out.size() < need) co_return c.fail(SenseReason::parameter_list_length_error);
  for (size_t off = 0; off < bytes; off += (bytchk == 1 ? bytes : bs)) {
    const size_t n = bytchk == 1 ? bytes : bs;
    if (auto d = first_difference(medium.data() + off, out.data() + (bytchk == 1 ? off : 0), n))
      co_return c.fail(SenseInfo{SenseReason::miscompare_during_verify, uint64_t(off + *d)});
  }
  co_return good();
}

awaitable<CommandResult> handle_synchronize_cache(Ctx& c) {
  // IMMED is honoured by finishing the flush before answering: always correct, never early.
  auto res = co_await c.lu->device().flush({c.lba, c.blocks});
  if (!res) co_return c.storage_error(res.error(), true);
  co_return good();
}

awaitable<CommandResult> handle_prefetch(Ctx&) {
  // The device keeps hot data itself; there is nothing to stage. GOOD (not CONDITION MET)
  // says the blocks may not all be in cache (SBC-3 5.9).
  co_return good();
}

}  // namespace swiftness::scsi
