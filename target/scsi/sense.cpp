#include "target/scsi/sense.hpp"

#include "core/bytes.hpp"
#include "core/result.hpp"

namespace swiftness::scsi {

namespace {

struct Row {
  SenseReason reason;
  SenseDetail detail;
};

// ASC/ASCQ from SPC-4 Annex D.
constexpr Row kSenseTable[] = {
    {SenseReason::invalid_command_operation_code, {SenseKey::illegal_request, 0x20, 0x00}},
    {SenseReason::invalid_field_in_cdb, {SenseKey::illegal_request, 0x24, 0x00}},
    {SenseReason::invalid_field_in_parameter_list, {SenseKey::illegal_request, 0x26, 0x00}},
    {SenseReason::parameter_list_length_error, {SenseKey::illegal_request, 0x1a, 0x00}},
    {SenseReason::lba_out_of_range, {SenseKey::illegal_request, 0x21, 0x00}},
    {SenseReason::logical_unit_not_supported, {SenseKey::illegal_request, 0x25, 0x00}},
    {SenseReason::saving_parameters_not_supported, {SenseKey::illegal_request, 0x39, 0x00}},
    {SenseReason::invalid_release_of_persistent_reservation,
     {SenseKey::illegal_request, 0x26, 0x04}},
    {SenseReason::insufficient_registration_resources, {SenseKey::illegal_request, 0x55, 0x04}},
    {SenseReason::power_on_reset, {SenseKey::unit_attention, 0x29, 0x00}},
    {SenseReason::mode_parameters_changed, {SenseKey::unit_attention, 0x2a, 0x01}},
    {SenseReason::capacity_data_changed, {SenseKey::unit_attention, 0x2a, 0x09}},
    {SenseReason::reservations_preempted, {SenseKey::unit_attention, 0x2a, 0x03}},
    {SenseReason::reservations_released, {SenseKey::unit_attention, 0x2a, 0x04}},
    {SenseReason::registrations_preempted, {SenseKey::unit_attention, 0x2a, 0x05}},
    {SenseReason::commands_cleared_by_another_initiator, {SenseKey::unit_attention, 0x2f, 0x00}},
    {SenseReason::reported_luns_data_changed, {SenseKey::unit_attention, 0x3f, 0x0e}},
    {SenseReason::write_protected, {SenseKey::data_protect, 0x27, 0x00}},
    {SenseReason::space_allocation_failed_write_protect, {SenseKey::data_protect, 0x27, 0x07}},
    {SenseReason::miscompare_during_verify, {SenseKey::miscompare, 0x1d, 0x00}},
    {SenseReason::unrecovered_read_error, {SenseKey::medium_error, 0x11, 0x00}},
    {SenseReason::write_error, {SenseKey::medium_error, 0x0c, 0x00}},
    // LOGICAL UNIT NOT READY, CAUSE NOT REPORTABLE: the backend (Swift) cannot be reached.
    {SenseReason::not_ready_unavailable, {SenseKey::not_ready, 0x04, 0x00}},
    {SenseReason::internal_target_failure, {SenseKey::hardware_error, 0x44, 0x00}},
    {SenseReason::aborted_command, {SenseKey::aborted_command, 0x00, 0x00}},
};

}  // namespace

SenseDetail sense_detail(SenseReason r) {
  for (const auto& row : kSenseTable)
    if (row.reason == r) return row.detail;
  return {SenseKey::hardware_error, 0x44, 0x00};
}

std::vector<uint8_t> build_sense(const SenseInfo& info, bool descriptor_format) {
  const SenseDetail d = sense_detail(info.reason);
  // SENSE KEY SPECIFIC for ILLEGAL REQUEST: byte 0: SKSV(7) C/D(6) BPV(3) BIT POINTER(2-0),
  // bytes 1-2: FIELD POINTER.
  uint8_t sks[3] = {};
  if (info.field) {
    sks[0] = 0x80 | (info.field->in_cdb ? 0x40 : 0) |
             (info.field->bit >= 0 ? 0x08 | (info.field->bit & 7) : 0);
    core::store_be16(sks + 1, info.field->byte);
  }
  if (!descriptor_format) {
    // SPC-4 4.5.3: byte 0: VALID(7) RESPONSE CODE 70h; byte 2: SENSE KEY(3-0); bytes 3-6:
    // INFORMATION; byte 7: ADDITIONAL SENSE LENGTH; 12/13: ASC/ASCQ; 15-17: SENSE KEY SPECIFIC.
    std::vector<uint8_t> s(18, 0);
    s[0] = 0x70;
    s[2] = uint8_t(d.key);
    s[7] = 10;
    s[12] = d.asc;
    s[13] = d.ascq;
    if (info.information) {
      // A value that does not fit in four bytes cannot be VALID in fixed format.
      if (*info.information <= 0xffffffffu) {
        s[0] |= 0x80;
        core::store_be32(&s[3], uint32_t(*info.information));
      }
    }
    if (info.field) std::copy(sks, sks + 3, &s[15]);
    return s;
  }
  // SPC-4 4.5.2: byte 0: 72h; 1: SENSE KEY; 2/3: ASC/ASCQ; 7: ADDITIONAL SENSE LENGTH.
  std::vector<uint8_t> s(8, 0);
  s[0] = 0x72;
  s[1] = uint8_t(d.key);
  s[2] = d.asc;
  s[3] = d.ascq;
  if (info.information) {
    // 4.5.2.2 Information descriptor: type 00h, length 0Ah, VALID(7), INFORMATION (8 bytes).
    uint8_t desc[12] = {0x00, 0x0a, 0x80};
    core::store_be64(desc + 4, *info.information);
    s.insert(s.end(), desc, desc + 12);
  }
  if (info.field) {
    // 4.5.2.4 Sense key specific descriptor: type 02h, length 06h.
    uint8_t desc[8] = {0x02, 0x06, 0, 0, sks[0], sks[1], sks[2], 0};
    s.insert(s.end(), desc, desc + 8);
  }
  s[7] = uint8_t(s.size() - 8);
  return s;
}

std::optional<SenseDetail> parse_sense(const std::vector<uint8_t>& s) {
  if (s.empty()) return std::nullopt;
  const uint8_t code = s[0] & 0x7f;
  if ((code == 0x70 || code == 0x71) && s.size() >= 14)
    return SenseDetail{SenseKey(s[2] & 0x0f), s[12], s[13]};
  if ((code == 0x72 || code == 0x73) && s.size() >= 4)
    return SenseDetail{SenseKey(s[1] & 0x0f), s[2], s[3]};
  return std::nullopt;
}

SenseReason sense_for_block_error(std::error_code ec, bool writing) {
  using core::block_errc;
  if (ec.category() != core::block_category())
    return writing ? SenseReason::write_error : SenseReason::unrecovered_read_error;
  switch (block_errc(ec.value())) {
    case block_errc::medium_error:
      return writing ? SenseReason::write_error : SenseReason::unrecovered_read_error;
    case block_errc::no_space:
      return SenseReason::space_allocation_failed_write_protect;
    case block_errc::unavailable:
      return SenseReason::not_ready_unavailable;
    case block_errc::out_of_range:
      return SenseReason::lba_out_of_range;
    case block_errc::write_protected:
      return SenseReason::write_protected;
    case block_errc::aborted:
      return SenseReason::aborted_command;
    case block_errc::busy:
    case block_errc::io_error:
      break;
  }
  return SenseReason::internal_target_failure;
}

bool is_transient_block_error(std::error_code ec) {
  return ec == core::block_errc::busy;
}

}  // namespace swiftness::scsi
