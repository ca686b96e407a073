// iSCSI PDUs (RFC 7143 §11): the 48-byte Basic Header Segment, additional header segments and the
// data segment. Fields are read and written through accessors over the wire bytes (design.md §2).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/bytes.hpp"

namespace swiftness::iscsi {

inline constexpr size_t kBhsLength = 48;
inline constexpr uint32_t kReservedTag = 0xffffffff;

// RFC 7143 §11.1.1. Initiator opcodes are 0x00-0x1f, target opcodes 0x20-0x3f.
enum class Opcode : uint8_t {
  nop_out = 0x00,
  scsi_command = 0x01,
  task_mgmt_request = 0x02,
  login_request = 0x03,
  text_request = 0x04,
  data_out = 0x05,
  logout_request = 0x06,
  snack_request = 0x10,
  nop_in = 0x20,
  scsi_response = 0x21,
  task_mgmt_response = 0x22,
  login_response = 0x23,
  text_response = 0x24,
  data_in = 0x25,
  logout_response = 0x26,
  r2t = 0x31,
  async_message = 0x32,
  reject = 0x3f,
};

// Reject reasons, RFC 7143 §11.17.1.
enum class RejectReason : uint8_t {
  data_digest_error = 0x02,
  snack_reject = 0x03,
  protocol_error = 0x04,
  command_not_supported = 0x05,
  immediate_command_reject = 0x06,
  task_in_progress = 0x07,
  invalid_data_ack = 0x08,
  invalid_pdu_field = 0x09,
  long_operation_reject = 0x0a,
  negotiation_reset = 0x0b,
  waiting_for_logout = 0x0c,
};

// A header laid out as on the wire. The accessors name the fields common to most PDUs; opcode
// specific fields are read with the core::load_be* helpers at the offsets the RFC gives.
struct Bhs {
  std::array<uint8_t, kBhsLength> b{};

  Opcode opcode() const { return Opcode(b[0] & 0x3f); }
  bool immediate() const { return b[0] & 0x40; }
  uint8_t flags() const { return b[1]; }
  bool final_bit() const { return b[1] & 0x80; }
  uint8_t total_ahs_length() const { return b[4]; }  // in 4-byte words
  uint32_t data_segment_length() const { return core::load_be24(&b[5]); }
  uint64_t lun() const { return core::load_be64(&b[8]); }
  uint32_t itt() const { return core::load_be32(&b[16]); }
  uint32_t field32(size_t offset) const { return core::load_be32(&b[offset]); }

  void set_opcode(Opcode op, bool immediate = false) {
    b[0] = uint8_t(op) | (immediate ? 0x40 : 0);
  }
  void set_flags(uint8_t f) { b[1] = f; }
  void set_data_segment_length(uint32_t n) { core::store_be24(&b[5], n); }
  void set_lun(uint64_t lun) { core::store_be64(&b[8], lun); }
  void set_itt(uint32_t itt) { core::store_be32(&b[16], itt); }
  void set_field32(size_t offset, uint32_t v) { core::store_be32(&b[offset], v); }
};

// Byte offsets of the sequence-number fields shared by many PDUs.
namespace off {
inline constexpr size_t kTtt = 20;        // Target Transfer Tag (Data-Out, NOP, R2T, Text)
inline constexpr size_t kCmdSn = 24;      // initiator PDUs
inline constexpr size_t kExpStatSn = 28;  // initiator PDUs
inline constexpr size_t kStatSn = 24;     // target PDUs
inline constexpr size_t kExpCmdSn = 28;   // target PDUs
inline constexpr size_t kMaxCmdSn = 32;   // target PDUs
}  // namespace off

struct Pdu {
  Bhs bhs;
  std::vector<uint8_t> ahs;     // TotalAHSLength * 4 bytes, unparsed
  std::vector<std::byte> data;  // DataSegmentLength bytes, padding removed
};

inline size_t pad4(size_t n) {
  return (4 - (n & 3)) & 3;
}

}  // namespace swiftness::iscsi
