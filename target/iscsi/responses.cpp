#include "target/iscsi/responses.hpp"

namespace swiftness::iscsi {
namespace {
uint8_t residual_bits(const Residual& r) {
  return uint8_t((r.overflow ? 0x04 : 0) | (r.underflow ? 0x02 : 0));
}
}  // namespace

Bhs make_scsi_response(uint32_t itt, uint8_t status, Residual residual, uint32_t exp_data_sn,
                       uint32_t data_length) {
  Bhs b;
  b.set_opcode(Opcode::scsi_response);
  b.set_flags(0x80 | residual_bits(residual));
  b.b[2] = 0;  // Response: command completed at target
  b.b[3] = status;
  b.set_data_segment_length(data_length);
  b.set_itt(itt);
  b.set_field32(36, exp_data_sn);
  b.set_field32(44, residual.overflow || residual.underflow ? residual.count : 0);
  return b;
}

Bhs make_data_in(uint32_t itt, uint64_t lun, uint32_t data_sn, uint32_t offset, uint32_t length,
                 bool final_pdu, bool with_status, uint8_t status, Residual residual) {
  Bhs b;
  b.set_opcode(Opcode::data_in);
  uint8_t flags = final_pdu ? 0x80 : 0;
  if (with_status) flags |= 0x01 | residual_bits(residual);
  b.set_flags(flags);
  if (with_status) b.b[3] = status;
  b.set_data_segment_length(length);
  b.set_lun(lun);
  b.set_itt(itt);
  b.set_field32(off::kTtt, kReservedTag);
  b.set_field32(36, data_sn);
  b.set_field32(40, offset);
  if (with_status && (residual.overflow || residual.underflow)) b.set_field32(44, residual.count);
  return b;
}

Bhs make_r2t(uint32_t itt, uint64_t lun, uint32_t ttt, uint32_t r2t_sn, uint32_t offset,
             uint32_t length) {
  Bhs b;
  b.set_opcode(Opcode::r2t);
  b.set_flags(0x80);  // byte 1 must be 0x80: Windows rejects an R2T with flags 0
  b.set_lun(lun);
  b.set_itt(itt);
  b.set_field32(off::kTtt, ttt);
  b.set_field32(36, r2t_sn);
  b.set_field32(40, offset);
  b.set_field32(44, length);
  return b;
}

Bhs make_nop_in(uint32_t itt, uint32_t ttt, uint64_t lun, uint32_t data_length) {
  Bhs b;
  b.set_opcode(Opcode::nop_in);
  b.set_flags(0x80);
  b.set_data_segment_length(data_length);
  b.set_lun(lun);
  b.set_itt(itt);
  b.set_field32(off::kTtt, ttt);
  return b;
}

Bhs make_tmf_response(uint32_t itt, uint8_t response) {
  Bhs b;
  b.set_opcode(Opcode::task_mgmt_response);
  b.set_flags(0x80);
  b.b[2] = response;
  b.set_itt(itt);
  return b;
}

Bhs make_text_response(uint32_t itt, uint32_t ttt, bool final_pdu, bool more, uint32_t length) {
  Bhs b;
  b.set_opcode(Opcode::text_response);
  b.set_flags(uint8_t((final_pdu ? 0x80 : 0) | (more ? 0x40 : 0)));
  b.set_data_segment_length(length);
  b.set_itt(itt);
  b.set_field32(off::kTtt, ttt);
  return b;
}

Bhs make_logout_response(uint32_t itt, uint8_t response, uint16_t time2wait, uint16_t time2retain) {
  Bhs b;
  b.set_opcode(Opcode::logout_response);
  b.set_flags(0x80);
  b.b[2] = response;
  b.set_itt(itt);
  core::store_be16(&b.b[40], time2wait);
  core::store_be16(&b.b[42], time2retain);
  return b;
}

Bhs make_reject(RejectReason reason, uint32_t data_sn_or_r2t_sn) {
  Bhs b;
  b.set_opcode(Opcode::reject);
  b.set_flags(0x80);
  b.b[2] = uint8_t(reason);
  b.set_data_segment_length(kBhsLength);
  b.set_itt(kReservedTag);
  b.set_field32(36, data_sn_or_r2t_sn);
  return b;
}

Bhs make_async_logout_request(uint16_t seconds) {
  Bhs b;
  b.set_opcode(Opcode::async_message);
  b.set_flags(0x80);
  b.set_itt(kReservedTag);
  b.b[36] = 1;                          // AsyncEvent 1: target requests logout
  core::store_be16(&b.b[40], seconds);  // Parameter3: time to logout
  return b;
}

bool advances_stat_sn(const Bhs& bhs) {
  switch (bhs.opcode()) {
    case Opcode::scsi_response:
    case Opcode::task_mgmt_response:
    case Opcode::login_response:
    case Opcode::text_response:
    case Opcode::logout_response:
    case Opcode::reject:
      return true;
    case Opcode::data_in:
      return bhs.flags() & 0x01;
    case Opcode::nop_in:
      return bhs.itt() != kReservedTag;
    default:
      return false;
  }
}

}  // namespace swiftness::iscsi
