// The command table (design.md §3): one row per supported opcode / service action, with its CDB
// usage bits, data direction and the checks the dispatcher runs before the handler. REPORT
// SUPPORTED OPERATION CODES is generated from the same rows.
#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <span>
#include <string_view>

#include "target/scsi/command.hpp"
#include "target/scsi/persistent_reservations.hpp"

namespace swiftness::scsi {

struct Ctx;
using Handler = boost::asio::awaitable<CommandResult> (*)(Ctx&);

// Where a CDB keeps its LOGICAL BLOCK ADDRESS and transfer/block count (SBC-3 4.x layouts).
enum class LbaField : uint8_t {
  none,
  cdb6,        // 21-bit LBA in bytes 1-3, TRANSFER LENGTH byte 4 (0 means 256)
  cdb10,       // LBA bytes 2-5, length bytes 7-8
  cdb12,       // LBA bytes 2-5, length bytes 6-9
  cdb16,       // LBA bytes 2-9, length bytes 10-13
  caw,         // COMPARE AND WRITE: LBA bytes 2-9, NUMBER OF LOGICAL BLOCKS byte 13
  lba16_only,  // GET LBA STATUS: LBA bytes 2-9, no length
};

namespace cmd_flag {
inline constexpr uint32_t kNoLun = 1u << 0;          // runs even if the LUN does not exist
inline constexpr uint32_t kUaAllowed = 1u << 1;      // not blocked by a pending unit attention
inline constexpr uint32_t kWrites = 1u << 2;         // fails on a write-protected LU
inline constexpr uint32_t kSpc2Allowed = 1u << 3;    // allowed under another nexus's RESERVE(6)
inline constexpr uint32_t kTransferLimit = 1u << 4;  // length checked against MAX TRANSFER
inline constexpr uint32_t kFuaBits = 1u << 5;        // byte 1 carries DPO(4) FUA(3)
}  // namespace cmd_flag

struct CommandSpec {
  uint8_t opcode;
  int16_t service_action;  // -1: the opcode has no service actions
  uint8_t cdb_length;
  std::array<uint8_t, 16> usage;  // SPC-4 6.35.3 CDB USAGE DATA; a set bit outside is an error
  DataDirection direction;
  uint32_t flags;
  PrAccess pr;
  LbaField lba;
  Handler handler;
  std::string_view name;
};

std::span<const CommandSpec> command_table();

// The row for this opcode (and service action, for opcodes that have them). `opcode_known`
// tells INVALID COMMAND OPERATION CODE apart from an unsupported service action.
const CommandSpec* find_command(uint8_t opcode, uint16_t service_action, bool& opcode_known);
bool opcode_has_service_actions(uint8_t opcode);
// Where the SERVICE ACTION field is for this opcode (byte 1, bits 4-0 for all of ours).
uint16_t service_action_of(std::span<const uint8_t> cdb);

}  // namespace swiftness::scsi
