// What the Windows initiator sends after login: SCSI commands with immediate and unsolicited
// data, task management, NOP-Out pings, SendTargets and logout.
#include <gtest/gtest.h>

#include <chrono>

#include "tests/integration/iscsi/ms_initiator.hpp"

namespace swiftness::testing {

uint32_t MsInitiator::submit(const std::vector<uint8_t>& cdb, Dir dir, uint32_t edtl,
                             std::vector<uint8_t> out, uint64_t lun) {
  // Windows stays inside the window: wait for MaxCmdSN to open (bounded).
  for (int i = 0; i < 100 && sn_lt(max_cmd_sn_, cmd_sn_); ++i)
    pump(100);
  EXPECT_FALSE(sn_lt(max_cmd_sn_, cmd_sn_)) << "CmdSN window stayed closed";
  uint32_t itt = itt_++;
  Task& t = tasks_[itt];
  t.dir = dir;
  t.edtl = edtl;
  t.lun = lun;
  t.out = std::move(out);
  t.cmd_sn = cmd_sn_;
  if (dir == Dir::write) {
    EXPECT_EQ(t.out.size(), edtl) << "test bug: write buffer != EDTL";
  }
  PduBuilder b(Opcode::scsi_command);
  // F, R/W, ATTR simple (1).
  b.flags(uint8_t(0x80 | (dir == Dir::read ? 0x40 : 0) | (dir == Dir::write ? 0x20 : 0) | 1));
  b.pdu.bhs.set_lun(lun_field(lun));
  b.itt(itt).field32(20, edtl).field32(24, cmd_sn_++).field32(28, exp_stat_sn_);
  std::memcpy(&b.pdu.bhs.b[32], cdb.data(), std::min<size_t>(16, cdb.size()));
  uint32_t imm = 0;
  if (dir == Dir::write && params_.immediate_data)
    imm = std::min({edtl, params_.first_burst, params_.target_mrdsl});
  if (imm) b.data(bytes(t.out, 0, imm));
  raw_.send(b);
  t.res.immediate_bytes = imm;
  t.sent = imm;
  t.next_r2t_offset = imm;
  if (dir == Dir::write && !params_.initial_r2t) {
    // Unsolicited Data-Out up to FirstBurstLength (RFC 7143 §13.12), TTT ffffffff, DataSN
    // from 0, F on the last PDU of the sequence.
    uint32_t end = std::min(edtl, params_.first_burst);
    uint32_t sn = 0;
    while (t.sent < end) {
      uint32_t n = std::min(params_.target_mrdsl, end - t.sent);
      send_data_out(itt, t, 0xffffffff, sn++, t.sent, n, t.sent + n == end);
      ++t.res.unsolicited_pdus;
      t.sent += n;
    }
    t.next_r2t_offset = end;
  }
  return itt;
}

ScsiResult MsInitiator::wait(uint32_t itt, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (tasks_.count(itt) && !tasks_[itt].res.completed &&
         std::chrono::steady_clock::now() < deadline) {
    if (!pump(200) && raw_.saw_eof()) break;
  }
  auto it = tasks_.find(itt);
  if (it == tasks_.end()) return {};
  ScsiResult r = std::move(it->second.res);
  EXPECT_TRUE(r.completed) << "no status for ITT " << itt << " within " << timeout_ms << " ms";
  tasks_.erase(it);
  return r;
}

int MsInitiator::task_management(uint8_t function, uint64_t lun, uint32_t rtt, int timeout_ms) {
  uint32_t itt = itt_++;
  PduBuilder b(Opcode::task_mgmt_request, true);
  b.flags(uint8_t(0x80 | function)).itt(itt).field32(20, rtt);
  b.pdu.bhs.set_lun(lun_field(lun));
  b.field32(24, cmd_sn_).field32(28, exp_stat_sn_).field32(32, cmd_sn_).field32(36, 0);
  raw_.send(b);
  auto r = wait_other(itt, Opcode::task_mgmt_response, timeout_ms);
  if (!r) return -1;
  EXPECT_EQ(r->bhs.flags(), 0x80) << "TMF Response byte 1";
  EXPECT_EQ(r->bhs.data_segment_length(), 0u) << "TMF Response carries no data";
  return r->bhs.b[2];
}

std::optional<std::vector<uint8_t>> MsInitiator::ping(const std::vector<uint8_t>& data) {
  uint32_t itt = itt_++;
  PduBuilder b(Opcode::nop_out, true);
  b.flags(0x80).itt(itt).field32(20, 0xffffffff).field32(24, cmd_sn_).field32(28, exp_stat_sn_);
  if (!data.empty()) b.data(bytes(data, 0, data.size()));
  raw_.send(b);
  auto r = wait_other(itt, Opcode::nop_in);
  if (!r) return std::nullopt;
  EXPECT_EQ(r->bhs.flags(), 0x80) << "NOP-In byte 1";
  EXPECT_EQ(r->bhs.field32(20), 0xffffffffu) << "NOP-In TTT of an answer";
  std::vector<uint8_t> out(r->data.size());
  if (!out.empty()) std::memcpy(out.data(), r->data.data(), out.size());
  return out;
}

KeyList MsInitiator::send_targets(const std::string& what) {
  uint32_t itt = itt_++;
  PduBuilder b(Opcode::text_request);
  b.flags(0x80).itt(itt).field32(20, 0xffffffff).field32(24, cmd_sn_++);
  b.field32(28, exp_stat_sn_).key("SendTargets", what);
  raw_.send(b);
  auto r = wait_other(itt, Opcode::text_response);
  if (!r) return {};
  EXPECT_EQ(r->bhs.flags(), 0x80) << "Text Response byte 1: F=1 C=0";
  EXPECT_EQ(r->bhs.field32(20), 0xffffffffu) << "Text Response TTT when final";
  return strict_keys(r->data, "Text Response");
}

bool MsInitiator::logout(uint8_t reason) {
  uint32_t itt = itt_++;
  PduBuilder b(Opcode::logout_request, true);
  b.flags(uint8_t(0x80 | reason)).itt(itt).field32(24, cmd_sn_).field32(28, exp_stat_sn_);
  b.byte(20, 0).byte(21, 1);  // CID 1
  raw_.send(b);
  auto r = wait_other(itt, Opcode::logout_response);
  if (!r) return false;
  EXPECT_EQ(r->bhs.flags(), 0x80) << "Logout Response byte 1";
  EXPECT_EQ(r->bhs.b[2], 0) << "Logout Response: connection or session closed successfully";
  EXPECT_EQ(r->bhs.data_segment_length(), 0u);
  // The target closes the connection after the Logout Response (RFC 7143 §11.15).
  uint8_t byte;
  bool more = raw_.read_exact(&byte, 1, 5000);
  EXPECT_FALSE(more) << "bytes after the Logout Response";
  EXPECT_TRUE(raw_.saw_eof()) << "the target did not close the connection after logout";
  return r->bhs.b[2] == 0 && !more && raw_.saw_eof();
}

}  // namespace swiftness::testing
