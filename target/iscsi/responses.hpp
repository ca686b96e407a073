// Builders for the PDUs the target sends (RFC 7143 §11). Sequence numbers (StatSN, ExpCmdSN,
// MaxCmdSN) are stamped by the connection when the PDU is queued, so builders leave them zero.
#pragma once

#include <cstdint>
#include <span>

#include "target/iscsi/pdu.hpp"

namespace swiftness::iscsi {

// Residual flags shared by SCSI Response and Data-In byte 1: O(2) overflow, U(1) underflow.
struct Residual {
  bool overflow = false;
  bool underflow = false;
  uint32_t count = 0;
};

Bhs make_scsi_response(uint32_t itt, uint8_t status, Residual residual, uint32_t exp_data_sn,
                       uint32_t data_length);
// `final_pdu` sets F; `with_status` sets S and carries status and residual (RFC 7143 §11.7.4).
Bhs make_data_in(uint32_t itt, uint64_t lun, uint32_t data_sn, uint32_t offset, uint32_t length,
                 bool final_pdu, bool with_status, uint8_t status, Residual residual);
Bhs make_r2t(uint32_t itt, uint64_t lun, uint32_t ttt, uint32_t r2t_sn, uint32_t offset,
             uint32_t length);
Bhs make_nop_in(uint32_t itt, uint32_t ttt, uint64_t lun, uint32_t data_length);
Bhs make_tmf_response(uint32_t itt, uint8_t response);
Bhs make_text_response(uint32_t itt, uint32_t ttt, bool final_pdu, bool more, uint32_t length);
Bhs make_logout_response(uint32_t itt, uint8_t response, uint16_t time2wait, uint16_t time2retain);
Bhs make_reject(RejectReason reason, uint32_t data_sn_or_r2t_sn);
// Async Message, event 1: the target requests a logout within `seconds` (RFC 7143 §11.9.1).
Bhs make_async_logout_request(uint16_t seconds);

// Whether a target PDU advances StatSN when sent (status-carrying PDUs do; Data-In without S,
// R2T, a NOP-In that is not a reply, and Async Messages do not).
bool advances_stat_sn(const Bhs& bhs);

}  // namespace swiftness::iscsi
