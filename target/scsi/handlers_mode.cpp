// MODE SENSE (6)/(10) and MODE SELECT (6)/(10) over the mode page table (SPC-4 6.11-6.14).
#include <vector>

#include "core/bytes.hpp"
#include "target/scsi/device_server_impl.hpp"
#include "target/scsi/handlers.hpp"

namespace swiftness::scsi {

using boost::asio::awaitable;

awaitable<CommandResult> handle_mode_sense(Ctx& c) {
  const bool ten = c.spec.opcode == 0x5a;
  const bool dbd = c.cdb[1] & 0x08;
  const bool llbaa = ten && (c.cdb[1] & 0x10);
  const auto pc = PageControl(c.cdb[2] >> 6);
  const uint8_t page = c.cdb[2] & 0x3f;
  const uint8_t subpage = c.cdb[3];
  const uint32_t alloc = ten ? core::load_be16(&c.cdb[7]) : c.cdb[4];
  if (pc == PageControl::saved && !c.lu->mode().saveable())
    co_return c.fail(SenseInfo{SenseReason::saving_parameters_not_supported, std::nullopt,
                               FieldPointer{true, 2, 7}});
  // No subpages are implemented: subpage 00h, or FFh with "all pages".
  if (subpage != 0 && !(subpage == 0xff && page == 0x3f)) co_return c.invalid_cdb_field(3);

  std::vector<uint8_t> pages;
  {
    std::lock_guard lock(c.lu->mutex());
    bool found = false;
    for (const auto& def : mode_page_table()) {
      if (page != 0x3f && def.code != page) continue;
      auto bytes = c.lu->mode().page(def, pc);
      pages.insert(pages.end(), bytes.begin(), bytes.end());
      found = true;
    }
    if (!found) co_return c.invalid_cdb_field(2, 5);
  }

  DataInWriter w(c.cmd.data_in, alloc);
  const size_t header = ten ? 8 : 4;
  const size_t bd_len = dbd ? 0 : (llbaa ? 16 : 8);
  // DEVICE-SPECIFIC PARAMETER (SBC-3 6.4.1): WP(7) DPOFUA(4).
  const bool wp = c.geo.read_only || c.lu->software_write_protect();
  const uint8_t dsp = uint8_t((wp ? 0x80 : 0) | 0x10);
  if (ten) {
    w.u8(3, dsp);
    w.u8(4, llbaa && !dbd ? 0x01 : 0x00);  // LONGLBA
    w.u16(6, uint16_t(bd_len));
  } else {
    w.u8(2, dsp);
    w.u8(3, uint8_t(bd_len));
  }
  if (bd_len == 8) {
    // Short block descriptor: NUMBER OF LOGICAL BLOCKS (FFFFFFFFh if larger), BLOCK LENGTH.
    w.u32(header, c.geo.block_count > 0xffffffffu ? 0xffffffffu : uint32_t(c.geo.block_count));
    w.u24(header + 5, c.geo.block_size);
  } else if (bd_len == 16) {
    w.u64(header, c.geo.block_count);
    w.u32(header + 12, c.geo.block_size);
  }
  w.bytes(header + bd_len, pages.data(), pages.size());
  w.extend(header + bd_len + pages.size());
  // MODE DATA LENGTH excludes itself.
  if (ten)
    w.u16(0, uint16_t(w.length() - 2));
  else
    w.u8(0, uint8_t(w.length() - 1));
  co_return c.data_in(w);
}

awaitable<CommandResult> handle_mode_select(Ctx& c) {
  const bool ten = c.spec.opcode == 0x55;
  // SPC-4 6.11: SP=1 asks to save the pages too; only LUs with a state directory can.
  const bool save = c.cdb[1] & 0x01;
  if (save && !c.lu->mode().saveable()) co_return c.invalid_cdb_field(1, 0);
  const uint32_t param_len = ten ? core::load_be16(&c.cdb[7]) : c.cdb[4];
  if (param_len == 0) {
    // No pages sent (SPC-4 6.11: not an error); SP=1 still saves the current values.
    if (save) {
      std::lock_guard lock(c.lu->mutex());
      c.lu->mode().save();
      if (!c.lu->persist_mode()) co_return c.fail(SenseReason::write_error);
    }
    co_return good();
  }
  if (c.cmd.data_out.size() < param_len) co_return c.fail(SenseReason::parameter_list_length_error);
  std::span<const uint8_t> p(reinterpret_cast<const uint8_t*>(c.cmd.data_out.data()), param_len);
  const size_t header = ten ? 8 : 4;
  if (p.size() < header) co_return c.fail(SenseReason::parameter_list_length_error);
  const size_t bd_len = ten ? core::load_be16(&p[6]) : p[3];
  if (header + bd_len > p.size()) co_return c.fail(SenseReason::parameter_list_length_error);
  bool changed = false;
  {
    std::lock_guard lock(c.lu->mutex());
    // Apply to a copy so a bad page later in the list leaves the current values untouched.
    ModePages next = c.lu->mode();
    for (size_t off = header + bd_len; off < p.size();) {
      if (off + 2 > p.size()) co_return c.fail(SenseReason::parameter_list_length_error);
      const size_t len = size_t(p[off + 1]) + 2;
      if (off + len > p.size()) co_return c.fail(SenseReason::parameter_list_length_error);
      if (auto err = next.select(p.subspan(off, len), off, changed)) co_return c.fail(*err);
      off += len;
    }
    if (changed) {
      c.lu->mode() = next;
      c.lu->mode_changed();
    }
    if (save) {
      c.lu->mode().save();
      if (!c.lu->persist_mode()) co_return c.fail(SenseReason::write_error);
    }
  }
  if (changed) {
    // SPC-4 5.14: MODE PARAMETERS CHANGED for every other I_T nexus.
    const uint64_t me = c.cmd.nexus ? c.cmd.nexus->id : 0;
    for (auto id : c.server.all_nexus_ids())
      if (id != me) c.lu->establish_ua(id, SenseReason::mode_parameters_changed);
  }
  co_return good();
}

}  // namespace swiftness::scsi
