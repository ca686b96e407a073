// Everything the target sends, framed and checked here rather than by the target's own PDU
// reader: digests, padding, sequence numbers, and the R2T, Data-In and SCSI Response fields.
#include <gtest/gtest.h>

#include <chrono>

#include "core/crc32c.hpp"

#include "tests/integration/iscsi/ms_initiator.hpp"

namespace swiftness::testing {

bool MsInitiator::pump(int ms) {
  auto p = next_pdu(ms);
  if (!p) return false;
  dispatch(std::move(*p));
  return true;
}

std::optional<Pdu> MsInitiator::next_pdu(int timeout_ms) {
  Pdu p;
  if (!raw_.read_exact(p.bhs.b.data(), iscsi::kBhsLength, timeout_ms)) return std::nullopt;
  const bool login_phase = !logged_in_;
  const bool hd = params_.header_digest && !login_phase;
  const bool dd = params_.data_digest && !login_phase;
  p.ahs.resize(size_t(p.bhs.total_ahs_length()) * 4);
  if (!p.ahs.empty() && !raw_.read_exact(p.ahs.data(), p.ahs.size())) return std::nullopt;
  if (hd) {
    uint8_t d[4];
    if (!raw_.read_exact(d, 4)) return std::nullopt;
    std::vector<uint8_t> h(p.bhs.b.begin(), p.bhs.b.end());
    h.insert(h.end(), p.ahs.begin(), p.ahs.end());
    EXPECT_EQ(iscsi::load_digest(d), core::crc32c(std::span<const uint8_t>(h)))
        << "header digest of opcode 0x" << std::hex << int(p.bhs.opcode());
  }
  uint32_t dsl = p.bhs.data_segment_length();
  if (dsl) {
    std::vector<uint8_t> seg(dsl + iscsi::pad4(dsl));
    if (!raw_.read_exact(seg.data(), seg.size(), timeout_ms)) return std::nullopt;
    for (size_t i = dsl; i < seg.size(); ++i)
      EXPECT_EQ(seg[i], 0) << "padding byte not zero";
    if (dd) {
      uint8_t d[4];
      if (!raw_.read_exact(d, 4)) return std::nullopt;
      EXPECT_EQ(iscsi::load_digest(d), core::crc32c(std::span<const uint8_t>(seg)))
          << "data digest of opcode 0x" << std::hex << int(p.bhs.opcode());
    }
    p.data.resize(dsl);
    std::memcpy(p.data.data(), seg.data(), dsl);
    // Nothing we receive may exceed what we declared (RFC 7143 §13.12).
    if (!login_phase) {
      EXPECT_LE(dsl, params_.our_mrdsl) << "DataSegmentLength over our MaxRecvDataSegmentLength";
    }
  }
  if (!login_phase) check_sequence(p.bhs);
  return p;
}

void MsInitiator::check_sequence(const Bhs& b) {
  Opcode op = b.opcode();
  bool status = op == Opcode::scsi_response || op == Opcode::task_mgmt_response ||
                op == Opcode::text_response || op == Opcode::logout_response ||
                op == Opcode::reject || (op == Opcode::data_in && (b.flags() & 0x01)) ||
                (op == Opcode::nop_in && b.itt() != 0xffffffff);
  uint32_t stat_sn = b.field32(24);
  if (status) {
    EXPECT_EQ(stat_sn, exp_stat_sn_) << "StatSN of opcode 0x" << std::hex << int(op);
    exp_stat_sn_ = stat_sn + 1;
  } else if (op == Opcode::r2t || op == Opcode::nop_in || op == Opcode::async_message) {
    EXPECT_EQ(stat_sn, exp_stat_sn_)
        << "StatSN (next, not advanced) of opcode 0x" << std::hex << int(op);
  }
  uint32_t e = b.field32(28), m = b.field32(32);
  EXPECT_FALSE(sn_lt(e, exp_cmd_sn_)) << "ExpCmdSN went back from " << exp_cmd_sn_ << " to " << e;
  EXPECT_FALSE(sn_lt(cmd_sn_, e)) << "ExpCmdSN " << e << " beyond the next CmdSN " << cmd_sn_;
  EXPECT_FALSE(sn_lt(m + 1, e)) << "MaxCmdSN " << m << " < ExpCmdSN - 1 (" << e << ")";
  exp_cmd_sn_ = e;
  max_cmd_sn_ = m;
}

void MsInitiator::dispatch(Pdu p) {
  const Bhs& b = p.bhs;
  switch (b.opcode()) {
    case Opcode::data_in:
      return on_data_in(p);
    case Opcode::scsi_response:
      return on_scsi_response(p);
    case Opcode::r2t:
      return on_r2t(b);
    case Opcode::nop_in:
      if (b.itt() == 0xffffffff) {
        // A target ping: Windows answers (the note §4).
        PduBuilder n(Opcode::nop_out, true);
        n.flags(0x80).itt(0xffffffff).field32(20, b.field32(20)).field32(24, cmd_sn_);
        n.field32(28, exp_stat_sn_);
        n.pdu.bhs.set_lun(b.lun());
        raw_.send(n);
        ++pings_answered_;
        return;
      }
      others_.emplace(b.itt(), std::move(p));
      return;
    case Opcode::reject:
      rejects_.push_back(b);
      ADD_FAILURE() << "Reject reason 0x" << std::hex << int(b.b[2]) << " for opcode 0x"
                    << (p.data.empty() ? 0 : int(uint8_t(p.data[0]) & 0x3f));
      return;
    case Opcode::async_message:
      async_.push_back(b);
      return;
    default:
      others_.emplace(b.itt(), std::move(p));
      return;
  }
}

std::optional<Pdu> MsInitiator::wait_other(uint32_t itt, Opcode op, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!others_.count(itt) && std::chrono::steady_clock::now() < deadline)
    if (!pump(200) && raw_.saw_eof()) break;
  auto it = others_.find(itt);
  EXPECT_NE(it, others_.end()) << "no answer to ITT " << itt;
  if (it == others_.end()) return std::nullopt;
  Pdu p = std::move(it->second);
  others_.erase(it);
  EXPECT_EQ(p.bhs.opcode(), op);
  return p;
}

void MsInitiator::send_data_out(uint32_t itt, Task& t, uint32_t ttt, uint32_t data_sn,
                                uint32_t offset, uint32_t n, bool final_pdu) {
  PduBuilder d(Opcode::data_out);
  d.flags(final_pdu ? 0x80 : 0).itt(itt).field32(20, ttt).field32(28, exp_stat_sn_);
  d.pdu.bhs.set_lun(lun_field(t.lun));
  d.field32(36, data_sn).field32(40, offset);
  d.data(bytes(t.out, offset, n));
  raw_.send(d);
  ++t.res.data_out_pdus;
}

void MsInitiator::on_r2t(const Bhs& b) {
  EXPECT_EQ(b.flags(), 0x80) << "R2T byte 1 must be 0x80 (the note §4, event 23)";
  auto it = tasks_.find(b.itt());
  ASSERT_NE(it, tasks_.end()) << "R2T for unknown ITT " << b.itt();
  Task& t = it->second;
  ASSERT_EQ(t.dir, Dir::write) << "R2T for a non-write command";
  EXPECT_EQ(b.lun(), lun_field(t.lun)) << "R2T LUN";
  uint32_t ttt = b.field32(20), r2t_sn = b.field32(36), offset = b.field32(40), len = b.field32(44);
  EXPECT_NE(ttt, 0xffffffffu) << "R2T TTT";
  EXPECT_EQ(r2t_sn, t.next_r2t_sn++) << "R2TSN";
  EXPECT_EQ(offset, t.next_r2t_offset) << "R2T offset (DataSequenceInOrder=Yes)";
  EXPECT_GT(len, 0u) << "R2T desired length";
  EXPECT_LE(len, params_.max_burst) << "R2T desired length over MaxBurstLength";
  EXPECT_LE(uint64_t(offset) + len, t.edtl) << "R2T beyond EDTL";
  ++t.res.r2ts;
  if (uint64_t(offset) + len > t.edtl) return;
  t.next_r2t_offset = offset + len;
  uint32_t sn = 0;
  for (uint32_t done = 0; done < len;) {
    uint32_t n = std::min(params_.target_mrdsl, len - done);
    send_data_out(b.itt(), t, ttt, sn++, offset + done, n, done + n == len);
    done += n;
  }
  t.sent += len;
}

void MsInitiator::on_data_in(const Pdu& p) {
  const Bhs& b = p.bhs;
  auto it = tasks_.find(b.itt());
  ASSERT_NE(it, tasks_.end()) << "Data-In for unknown ITT " << b.itt();
  Task& t = it->second;
  EXPECT_EQ(t.dir, Dir::read) << "Data-In for a non-read command";
  uint8_t f = b.flags();
  bool fin = f & 0x80, s = f & 0x01;
  EXPECT_FALSE(f & 0x40) << "Data-In A bit at ErrorRecoveryLevel " << params_.erl;
  EXPECT_EQ(f & 0x38, 0) << "Data-In reserved bits";
  if (s) {
    EXPECT_TRUE(fin) << "Data-In S without F";
  }
  if (!s) {
    EXPECT_EQ(f & 0x06, 0) << "Data-In O/U without S";
  }
  EXPECT_EQ(b.field32(20), 0xffffffffu) << "Data-In TTT";
  EXPECT_EQ(b.field32(36), t.next_data_sn++) << "DataSN";
  uint32_t off = b.field32(40), n = b.data_segment_length();
  EXPECT_EQ(off, uint32_t(t.res.data.size())) << "Data-In buffer offset";
  EXPECT_LE(uint64_t(off) + n, t.edtl) << "Data-In beyond EDTL";
  t.res.data.insert(t.res.data.end(), reinterpret_cast<const uint8_t*>(p.data.data()),
                    reinterpret_cast<const uint8_t*>(p.data.data()) + n);
  ++t.res.data_in_pdus;
  t.seq_bytes += n;
  // A Data-In sequence must not exceed MaxBurstLength (tgt PR #75 in the note's appendix).
  EXPECT_LE(t.seq_bytes, params_.max_burst) << "Data-In sequence over MaxBurstLength";
  if (fin) t.seq_bytes = 0;
  if (s) {
    t.res.status = b.b[3];
    EXPECT_EQ(b.b[3], 0) << "status in Data-In must be GOOD (sense needs a SCSI Response)";
    complete(t, f, b.field32(44), uint32_t(t.res.data.size()));
  }
}

void MsInitiator::on_scsi_response(const Pdu& p) {
  const Bhs& b = p.bhs;
  auto it = tasks_.find(b.itt());
  ASSERT_NE(it, tasks_.end()) << "SCSI Response for unknown ITT " << b.itt();
  Task& t = it->second;
  uint8_t f = b.flags();
  EXPECT_TRUE(f & 0x80) << "SCSI Response F bit";
  EXPECT_EQ(f & 0x78, 0) << "SCSI Response reserved/bidirectional residual bits";
  EXPECT_EQ(b.b[2], 0) << "SCSI Response: Response must be 'completed at target'";
  t.res.status = b.b[3];
  uint32_t dsl = b.data_segment_length();
  if (t.res.status == 0) {
    EXPECT_EQ(dsl, 0u) << "a GOOD SCSI Response must carry no data (the note §4, event 60)";
  } else if (dsl) {
    EXPECT_GE(dsl, 2u);
    uint32_t sl = dsl >= 2 ? uint32_t(uint8_t(p.data[0])) << 8 | uint8_t(p.data[1]) : 0;
    EXPECT_LE(sl + 2, dsl) << "SenseLength beyond the data segment";
    for (uint32_t i = 0; i < sl && i + 2 < dsl; ++i)
      t.res.sense.push_back(uint8_t(p.data[2 + i]));
    auto& s = t.res.sense;
    if (s.size() >= 14 && (s[0] & 0x7f) >= 0x70 && (s[0] & 0x7f) <= 0x71) {
      t.res.sense_key = s[2] & 0x0f;
      t.res.asc = s[12];
      t.res.ascq = s[13];
    } else if (s.size() >= 4 && (s[0] & 0x7f) >= 0x72) {
      t.res.sense_key = s[1] & 0x0f;
      t.res.asc = s[2];
      t.res.ascq = s[3];
    }
  }
  // ExpDataSN: the number of Data-In (read) or R2T (write) PDUs (RFC 7143 §11.4.8).
  uint32_t want = t.dir == Dir::read ? t.res.data_in_pdus : t.dir == Dir::write ? t.res.r2ts : 0;
  EXPECT_EQ(b.field32(36), want) << "ExpDataSN";
  uint32_t moved = t.dir == Dir::read ? uint32_t(t.res.data.size()) : t.sent;
  complete(t, f, b.field32(44), moved);
}

void MsInitiator::complete(Task& t, uint8_t flags, uint32_t residual, uint32_t moved) {
  t.res.completed = true;
  t.res.overflow = flags & 0x04;
  t.res.underflow = flags & 0x02;
  EXPECT_FALSE(t.res.overflow && t.res.underflow) << "both O and U";
  t.res.residual = (t.res.overflow || t.res.underflow) ? residual : 0;
  if (t.res.underflow) {
    EXPECT_EQ(residual, t.edtl - moved) << "underflow residual count";
  }
  if (!t.res.overflow && !t.res.underflow && t.res.status == 0) {
    // The note §4: GOOD with fewer bytes than EDTL and no U makes Windows drop the connection.
    EXPECT_EQ(moved, t.edtl) << "GOOD without residual but fewer bytes than EDTL";
  }
}

}  // namespace swiftness::testing
