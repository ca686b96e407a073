// Sense data, built in one place from a reason table (LIO's sense_detail_table), in fixed or
// descriptor format per the Control mode page D_SENSE bit (SPC-4 4.5).
#pragma once

#include <cstdint>
#include <optional>
#include <system_error>
#include <vector>

namespace swiftness::scsi {

enum class SenseKey : uint8_t {
  no_sense = 0x0,
  recovered_error = 0x1,
  not_ready = 0x2,
  medium_error = 0x3,
  hardware_error = 0x4,
  illegal_request = 0x5,
  unit_attention = 0x6,
  data_protect = 0x7,
  aborted_command = 0xb,
  miscompare = 0xe,
};

// Every reason the SCSI layer answers CHECK CONDITION for. Add a row to the table in sense.cpp
// with each new value.
enum class SenseReason : uint8_t {
  invalid_command_operation_code,
  invalid_field_in_cdb,
  invalid_field_in_parameter_list,
  parameter_list_length_error,
  lba_out_of_range,
  logical_unit_not_supported,
  saving_parameters_not_supported,
  invalid_release_of_persistent_reservation,
  insufficient_registration_resources,
  power_on_reset,
  mode_parameters_changed,
  capacity_data_changed,
  reservations_preempted,
  reservations_released,
  registrations_preempted,
  commands_cleared_by_another_initiator,
  reported_luns_data_changed,
  write_protected,
  space_allocation_failed_write_protect,
  miscompare_during_verify,
  unrecovered_read_error,
  write_error,
  not_ready_unavailable,
  internal_target_failure,
  aborted_command,
};

struct SenseDetail {
  SenseKey key;
  uint8_t asc;
  uint8_t ascq;
};

SenseDetail sense_detail(SenseReason r);

// Sense-key-specific field pointer (SPC-4 4.5.2.4.2): which CDB / parameter byte was wrong.
struct FieldPointer {
  bool in_cdb = true;  // C/D
  uint16_t byte = 0;   // FIELD POINTER
  int8_t bit = -1;     // BIT POINTER, -1 = not given (BPV 0)
};

struct SenseInfo {
  SenseReason reason;
  std::optional<uint64_t> information = std::nullopt;  // first bad LBA, miscompare offset
  std::optional<FieldPointer> field = std::nullopt;
};

// SPC-4 4.5.3 (fixed, 18 bytes) or 4.5.2 (descriptor: information + sense key specific).
std::vector<uint8_t> build_sense(const SenseInfo& info, bool descriptor_format);

// Decodes key/asc/ascq from either format (REQUEST SENSE conversions and tests).
std::optional<SenseDetail> parse_sense(const std::vector<uint8_t>& sense);

// The one place a storage error becomes a SCSI outcome (design.md §7). Transient errors
// (block_errc::busy) are not sense: the caller answers BUSY for them.
SenseReason sense_for_block_error(std::error_code ec, bool writing);
bool is_transient_block_error(std::error_code ec);

}  // namespace swiftness::scsi
