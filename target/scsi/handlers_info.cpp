// INQUIRY, REPORT LUNS, READ CAPACITY, TEST UNIT READY, REQUEST SENSE, the REPORT SUPPORTED
// commands, and the medium-handling commands a fixed disk answers trivially.
#include <algorithm>

#include "core/bytes.hpp"
#include "target/scsi/device_server_impl.hpp"
#include "target/scsi/handlers.hpp"
#include "target/scsi/vpd.hpp"

namespace swiftness::scsi {

using boost::asio::awaitable;

namespace {

DataInWriter writer(const Ctx& c, uint32_t allocation_length) {
  return DataInWriter(c.cmd.data_in, allocation_length);
}

void standard_inquiry(const Ctx& c, DataInWriter& w) {
  // byte 0: PERIPHERAL QUALIFIER(7-5) DEVICE TYPE(4-0): 000b/00h disk, or 011b/1Fh when no LU
  // is attached at this LUN (SPC-4 6.6.2).
  w.u8(0, c.lu ? 0x00 : 0x7f);
  w.u8(1, 0x00);  // RMB 0: fixed medium
  w.u8(2, 0x06);  // VERSION: SPC-4
  w.u8(3, 0x12);  // NORMACA(5)=0 HISUP(4)=1 RESPONSE DATA FORMAT 2
  w.u8(5, 0x00);  // SCCS ACC TPGS 3PC PROTECT: none
  w.u8(6, 0x00);
  w.u8(7, 0x02);  // CMDQUE: full task management model
  w.ascii(8, kVendorId, 8);
  const std::string product = c.lu ? c.lu->spec().product : std::string("Swiftness");
  w.ascii(16, product.substr(0, 16), 16);
  w.ascii(32, kRevision, 4);
  // bytes 58-73: VERSION DESCRIPTORS: SAM-5, SPC-4, SBC-3, iSCSI (RFC 7143).
  const uint16_t versions[] = {0x00a0, 0x0460, 0x04c0, 0x0960};
  for (size_t i = 0; i < std::size(versions); ++i)
    w.u16(58 + 2 * i, versions[i]);
  w.extend(74);
  w.u8(4, uint8_t(74 - 5));  // ADDITIONAL LENGTH
}

// SAM-5 4.7.7: LUNs below 256 use peripheral device addressing, above it flat addressing.
void encode_lun(DataInWriter& w, size_t off, uint64_t lun) {
  if (lun < 256) {
    w.u8(off + 1, uint8_t(lun));
  } else {
    w.u8(off, uint8_t(0x40 | ((lun >> 8) & 0x3f)));
    w.u8(off + 1, uint8_t(lun));
  }
}

}  // namespace

awaitable<CommandResult> handle_inquiry(Ctx& c) {
  const bool evpd = c.cdb[1] & 0x01;
  const uint8_t page = c.cdb[2];
  const uint16_t alloc = core::load_be16(&c.cdb[3]);
  // SPC-4 6.6.1: PAGE CODE must be zero when EVPD is zero.
  if (!evpd && page != 0) co_return c.invalid_cdb_field(2);
  DataInWriter w = writer(c, alloc);
  if (!evpd) {
    standard_inquiry(c, w);
    co_return c.data_in(w);
  }
  if (!c.lu) {
    // No LU: only the qualifier matters; report an empty page with PQ 3.
    w.u8(0, 0x7f);
    w.u8(1, page);
    w.extend(4);
    co_return c.data_in(w);
  }
  for (const auto& p : vpd_pages()) {
    if (p.code != page) continue;
    w.u8(0, 0x00);
    w.u8(1, page);
    p.build(c, w);
    w.extend(4);
    w.u16(2, uint16_t(w.length() - 4));
    co_return c.data_in(w);
  }
  co_return c.invalid_cdb_field(2);
}

awaitable<CommandResult> handle_report_luns(Ctx& c) {
  const uint8_t select = c.cdb[2];
  const uint32_t alloc = core::load_be32(&c.cdb[6]);
  // SELECT REPORT 00h all, 01h well-known only (we have none), 02h all.
  if (select > 2) co_return c.invalid_cdb_field(2);
  // SPC-4 6.33: ALLOCATION LENGTH below 16 is an error.
  if (alloc < 16) co_return c.invalid_cdb_field(6);
  DataInWriter w = writer(c, alloc);
  size_t off = 8;
  if (select != 1) {
    for (uint64_t lun : c.server.luns()) {
      encode_lun(w, off, lun);
      off += 8;
    }
  }
  w.extend(off);
  w.u32(0, uint32_t(off - 8));  // LUN LIST LENGTH
  co_return c.data_in(w);
}

awaitable<CommandResult> handle_read_capacity10(Ctx& c) {
  // SBC-3 5.15: without PMI the LOGICAL BLOCK ADDRESS must be zero.
  if (!(c.cdb[8] & 0x01) && core::load_be32(&c.cdb[2]) != 0) co_return c.invalid_cdb_field(2);
  DataInWriter w = writer(c, 8);
  const uint64_t last = c.geo.block_count - 1;
  w.u32(0, last > 0xffffffffu ? 0xffffffffu : uint32_t(last));  // use RC16 beyond 2 TiB
  w.u32(4, c.geo.block_size);
  co_return c.data_in(w);
}

awaitable<CommandResult> handle_read_capacity16(Ctx& c) {
  DataInWriter w = writer(c, core::load_be32(&c.cdb[10]));
  w.u64(0, c.geo.block_count - 1);
  w.u32(8, c.geo.block_size);
  // byte 13: P_I_EXPONENT(7-4) LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT(3-0);
  // byte 14: LBPME(7) LBPRZ(6) LOWEST ALIGNED LBA(5-0). LBPME/LBPRZ agree with VPD B2.
  w.u8(13, uint8_t(c.geo.physical_block_exponent & 0x0f));
  w.u8(14, c.geo.thin ? 0xc0 : 0x00);
  w.extend(32);
  co_return c.data_in(w);
}

awaitable<CommandResult> handle_test_unit_ready(Ctx&) {
  co_return good();
}

awaitable<CommandResult> handle_request_sense(Ctx& c) {
  const bool desc = c.cdb[1] & 0x01;
  DataInWriter w = writer(c, c.cdb[4]);
  std::vector<uint8_t> sense;
  if (!c.lu) {
    sense = build_sense({SenseReason::logical_unit_not_supported}, desc);
  } else if (auto ua = c.lu->take_ua(c.cmd.nexus ? c.cmd.nexus->id : 0)) {
    // SPC-4 5.14: REQUEST SENSE reports (and clears) a pending unit attention.
    sense = build_sense({*ua}, desc);
  } else {
    // NO SENSE, no additional sense information.
    sense = desc ? std::vector<uint8_t>{0x72, 0, 0, 0, 0, 0, 0, 0}
                 : std::vector<uint8_t>{0x70, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  }
  w.bytes(0, sense.data(), sense.size());
  co_return c.data_in(w);
}

awaitable<CommandResult> handle_report_supported_opcodes(Ctx& c) {
  const bool rctd = c.cdb[2] & 0x80;
  const uint8_t options = c.cdb[2] & 0x07;
  const uint8_t req_op = c.cdb[3];
  const uint16_t req_sa = core::load_be16(&c.cdb[4]);
  DataInWriter w = writer(c, core::load_be32(&c.cdb[6]));
  // Command timeouts descriptor (SPC-4 6.35.4): DESCRIPTOR LENGTH 0Ah, then nominal and
  // recommended timeouts in seconds (0 = not specified).
  auto timeouts = [&](size_t off) {
    w.u16(off, 0x0a);
    w.u32(off + 4, 0);
    w.u32(off + 8, 30);
  };
  if (options == 0) {
    // All commands: 8-byte descriptors (20 with timeouts) after a 4-byte header.
    size_t off = 4;
    for (const auto& s : command_table()) {
      w.u8(off, s.opcode);
      w.u16(off + 2, s.service_action >= 0 ? uint16_t(s.service_action) : 0);
      // byte 5: CTDP(1) SERVACTV(0)
      w.u8(off + 5, uint8_t((rctd ? 0x02 : 0) | (s.service_action >= 0 ? 0x01 : 0)));
      w.u16(off + 6, s.cdb_length);
      off += 8;
      if (rctd) {
        timeouts(off);
        off += 12;
      }
    }
    w.extend(off);
    w.u32(0, uint32_t(off - 4));  // COMMAND DATA LENGTH
    co_return c.data_in(w);
  }
  // One command. 1: opcode only (error if it has service actions); 2: opcode + service action
  // (error if it has none); 3: either.
  const bool has_sa = opcode_has_service_actions(req_op);
  if (options > 3 || (options == 1 && has_sa) || (options == 2 && !has_sa))
    co_return c.invalid_cdb_field(2);
  bool known = false;
  const CommandSpec* s = find_command(req_op, has_sa ? req_sa : 0, known);
  if (options == 3 && !has_sa && req_sa != 0) s = nullptr;
  if (s && options != 1 && has_sa && uint16_t(s->service_action) != req_sa) s = nullptr;
  // byte 1: CTDP(7) SUPPORT(2-0): 011b supported as the standard says, 001b not supported.
  if (!s) {
    w.u8(1, 0x01);
    w.extend(4);
    co_return c.data_in(w);
  }
  w.u8(1, uint8_t((rctd ? 0x80 : 0) | 0x03));
  w.u16(2, s->cdb_length);
  // CDB USAGE DATA starts with the OPERATION CODE itself (SPC-4 6.35.3).
  w.bytes(4, s->usage.data(), s->cdb_length);
  w.u8(4, s->opcode);
  size_t off = 4 + s->cdb_length;
  if (rctd) {
    timeouts(off);
    off += 12;
  }
  w.extend(off);
  co_return c.data_in(w);
}

awaitable<CommandResult> handle_report_supported_tmfs(Ctx& c) {
  const bool repd = c.cdb[2] & 0x80;
  DataInWriter w = writer(c, core::load_be32(&c.cdb[6]));
  // byte 0: ATS(7) ATSS(6) CACAS(5) CTSS(4) LURS(3) QTS(2) TRS(1) WAKES(0)
  // byte 1: QAES(2) QTSS(1) ITNRS(0). We do ABORT TASK, ABORT TASK SET, CLEAR TASK SET,
  // LOGICAL UNIT RESET and TARGET RESET (the transport maps warm/cold reset onto it).
  w.u8(0, 0xda);
  w.u8(1, 0x00);
  if (repd) {
    w.u8(3, 0x0c);  // ADDITIONAL DATA LENGTH
    w.extend(16);
  } else {
    w.extend(4);
  }
  co_return c.data_in(w);
}

awaitable<CommandResult> handle_start_stop_unit(Ctx& c) {
  // A fixed disk with nothing to spin: START/STOP and power conditions are accepted and have no
  // effect; LOEJ on a non-removable medium is ignored (SBC-3 5.25).
  (void)c;
  co_return good();
}

awaitable<CommandResult> handle_prevent_allow(Ctx&) {
  // SBC-3 5.13: with RMB=0 the command has no effect.
  co_return good();
}

awaitable<CommandResult> handle_read_defect_data(Ctx& c) {
  // SBC-3 5.18/5.19: a virtual disk has no defects. Answer the header with the lists asked for
  // marked valid (PLISTV/GLISTV) and a DEFECT LIST LENGTH of zero.
  const bool twelve = c.spec.opcode == 0xb7;
  const uint8_t req = twelve ? c.cdb[1] : c.cdb[2];  // REQ_PLIST(4) REQ_GLIST(3) FORMAT(2-0)
  DataInWriter w = writer(c, twelve ? core::load_be32(&c.cdb[6]) : core::load_be16(&c.cdb[7]));
  w.u8(1, uint8_t(req & 0x1f));
  w.extend(twelve ? 8 : 4);
  co_return c.data_in(w);
}

}  // namespace swiftness::scsi
