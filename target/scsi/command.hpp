// The contract between a transport (target/iscsi) and the SCSI device server (target/scsi).
// Nothing here knows about PDUs; nothing in iscsi/ knows about CDB fields beyond this.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace swiftness::scsi {

// One I_T nexus: the initiator port (iSCSI name + ISID) seen through a target port group.
// Persistent reservations and unit attentions are kept per nexus (SPC-4 5.9, 6.x).
struct Nexus {
  uint64_t id = 0;  // unique for the daemon's lifetime; the SCSI layer keys its state by this
  std::string initiator_name;
  std::array<uint8_t, 6> isid{};
  uint16_t target_portal_group = 1;
  std::string target_name;

  // "iqn...,i,0x<isid>" as SPC-4 7.6.4.6 TransportID format 01b (iSCSI initiator port).
  std::string initiator_port_name() const;
};

enum class DataDirection : uint8_t { none, read, write, bidirectional };

enum class TaskAttribute : uint8_t { simple, ordered, head_of_queue, aca };

enum class Status : uint8_t {
  good = 0x00,
  check_condition = 0x02,
  condition_met = 0x04,
  busy = 0x08,
  reservation_conflict = 0x18,
  task_set_full = 0x28,
  aca_active = 0x30,
  task_aborted = 0x40,
};

struct Command {
  std::shared_ptr<const Nexus> nexus;
  uint64_t lun = 0;              // decoded LUN (SAM-5 flat/peripheral addressing)
  uint32_t task_tag = 0;         // the transport's tag (iSCSI ITT), to spare this task in aborts
  std::span<const uint8_t> cdb;  // 6..16 bytes (more with an extended-CDB AHS)
  TaskAttribute attribute = TaskAttribute::simple;
  uint32_t expected_transfer_length = 0;  // EDTL from the transport
  DataDirection direction = DataDirection::none;
  // For data-out commands: the bytes the initiator sent (size <= EDTL).
  std::span<const std::byte> data_out;
  // For data-in commands: a buffer of EDTL bytes that the handler fills from its start.
  std::span<std::byte> data_in;
};

struct CommandResult {
  Status status = Status::good;
  uint32_t data_in_length = 0;  // bytes of data_in that are valid (the rest is residual)
  // Bytes the command would have transferred had EDTL been large enough (for overflow residual);
  // 0 means "same as data_in_length".
  uint32_t full_length = 0;
  std::vector<uint8_t> sense;  // empty unless CHECK CONDITION
};

// Task management functions (SAM-5 7), as the transport received them.
enum class TmfFunction : uint8_t {
  abort_task = 1,
  abort_task_set = 2,
  clear_aca = 3,
  clear_task_set = 4,
  logical_unit_reset = 5,
  target_warm_reset = 6,
  target_cold_reset = 7,
  task_reassign = 8,
};

// RFC 7143 11.6.1 response codes, which SAM-5's service responses map onto.
enum class TmfResponse : uint8_t {
  function_complete = 0,
  task_does_not_exist = 1,
  lun_does_not_exist = 2,
  task_still_allegiant = 3,
  task_reassign_not_supported = 4,
  function_not_supported = 5,
  authorization_failed = 6,
  function_rejected = 255,
};

}  // namespace swiftness::scsi
