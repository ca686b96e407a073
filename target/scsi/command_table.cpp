#include "target/scsi/command_table.hpp"

#include "target/scsi/handlers.hpp"

namespace swiftness::scsi {

namespace {

using D = DataDirection;
using L = LbaField;
using P = PrAccess;
using namespace cmd_flag;

constexpr uint32_t kIo = kTransferLimit | kFuaBits;

// Sorted by opcode, then service action. Usage bytes per SPC-4 / SBC-3 CDB layouts; byte 0 is
// the OPERATION CODE (all ones), the last byte is CONTROL (NACA and LINK unsupported: 00h).
// Protection fields (RDPROTECT/WRPROTECT/VRPROTECT/ORPROTECT) are not usable: we report
// PROTECT=0, so SBC-3 requires INVALID FIELD IN CDB when they are non-zero.
// clang-format off
constexpr CommandSpec kCommands[] = {
    {0x00, -1, 6, {0xff, 0, 0, 0, 0, 0}, D::none, 0, P::allowed, L::none,
     handle_test_unit_ready, "TEST UNIT READY"},
    {0x03, -1, 6, {0xff, 0x01, 0, 0, 0xff, 0}, D::read, kNoLun | kUaAllowed | kSpc2Allowed,
     P::allowed, L::none, handle_request_sense, "REQUEST SENSE"},
    {0x08, -1, 6, {0xff, 0x1f, 0xff, 0xff, 0xff, 0}, D::read, kTransferLimit, P::read, L::cdb6,
     handle_read, "READ (6)"},
    {0x0a, -1, 6, {0xff, 0x1f, 0xff, 0xff, 0xff, 0}, D::write, kWrites | kTransferLimit, P::write,
     L::cdb6, handle_write, "WRITE (6)"},
    {0x12, -1, 6, {0xff, 0x01, 0xff, 0xff, 0xff, 0}, D::read, kNoLun | kUaAllowed | kSpc2Allowed,
     P::allowed, L::none, handle_inquiry, "INQUIRY"},
    {0x15, -1, 6, {0xff, 0x11, 0, 0, 0xff, 0}, D::write, 0, P::write, L::none, handle_mode_select,
     "MODE SELECT (6)"},
    {0x16, -1, 6, {0xff, 0, 0, 0, 0, 0}, D::none, 0, P::write, L::none, handle_reserve,
     "RESERVE (6)"},
    {0x17, -1, 6, {0xff, 0, 0, 0, 0, 0}, D::none, kSpc2Allowed, P::write, L::none, handle_release,
     "RELEASE (6)"},
    {0x1a, -1, 6, {0xff, 0x08, 0xff, 0xff, 0xff, 0}, D::read, 0, P::read, L::none,
     handle_mode_sense, "MODE SENSE (6)"},
    {0x1b, -1, 6, {0xff, 0x01, 0, 0x0f, 0xf7, 0}, D::none, 0, P::read, L::none,
     handle_start_stop_unit, "START STOP UNIT"},
    {0x1e, -1, 6, {0xff, 0, 0, 0, 0x03, 0}, D::none, 0, P::read, L::none, handle_prevent_allow,
     "PREVENT ALLOW MEDIUM REMOVAL"},
    {0x25, -1, 10, {0xff, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x01, 0}, D::read, 0, P::allowed,
     L::none, handle_read_capacity10, "READ CAPACITY (10)"},
    {0x28, -1, 10, {0xff, 0x1e, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0}, D::read, kIo,
     P::read, L::cdb10, handle_read, "READ (10)"},
    {0x2a, -1, 10, {0xff, 0x1a, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0}, D::write,
     kIo | kWrites, P::write, L::cdb10, handle_write, "WRITE (10)"},
    {0x2e, -1, 10, {0xff, 0x16, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0}, D::write,
     kIo | kWrites, P::write, L::cdb10, handle_write_and_verify, "WRITE AND VERIFY (10)"},
    {0x2f, -1, 10, {0xff, 0x16, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0}, D::write,
     kTransferLimit, P::read, L::cdb10, handle_verify, "VERIFY (10)"},
    {0x34, -1, 10, {0xff, 0x02, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0}, D::none, 0, P::read,
     L::cdb10, handle_prefetch, "PRE-FETCH (10)"},
    {0x35, -1, 10, {0xff, 0x06, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0}, D::none, 0, P::read,
     L::cdb10, handle_synchronize_cache, "SYNCHRONIZE CACHE (10)"},
    {0x37, -1, 10, {0xff, 0, 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0}, D::read, 0, P::read, L::none,
     handle_read_defect_data, "READ DEFECT DATA (10)"},
    {0x41, -1, 10, {0xff, 0x08, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0}, D::write, kWrites,
     P::write, L::cdb10, handle_write_same, "WRITE SAME (10)"},
    {0x42, -1, 10, {0xff, 0, 0, 0, 0, 0, 0x1f, 0xff, 0xff, 0}, D::write, kWrites, P::write,
     L::none, handle_unmap, "UNMAP"},
    {0x55, -1, 10, {0xff, 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, 0}, D::write, 0, P::write, L::none,
     handle_mode_select, "MODE SELECT (10)"},
    {0x56, -1, 10, {0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0}, D::none, 0, P::write, L::none,
     handle_reserve, "RESERVE (10)"},
    {0x57, -1, 10, {0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0}, D::none, kSpc2Allowed, P::write, L::none,
     handle_release, "RELEASE (10)"},
    {0x5a, -1, 10, {0xff, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0}, D::read, 0, P::read, L::none,
     handle_mode_sense, "MODE SENSE (10)"},
    {0x5e, 0x00, 10, {0xff, 0x1f, 0, 0, 0, 0, 0, 0xff, 0xff, 0}, D::read, 0, P::allowed, L::none,
     handle_pr_in, "PERSISTENT RESERVE IN / READ KEYS"},
    {0x5e, 0x01, 10, {0xff, 0x1f, 0, 0, 0, 0, 0, 0xff, 0xff, 0}, D::read, 0, P::allowed, L::none,
     handle_pr_in, "PERSISTENT RESERVE IN / READ RESERVATION"},
    {0x5e, 0x02, 10, {0xff, 0x1f, 0, 0, 0, 0, 0, 0xff, 0xff, 0}, D::read, 0, P::allowed, L::none,
     handle_pr_in, "PERSISTENT RESERVE IN / REPORT CAPABILITIES"},
    {0x5e, 0x03, 10, {0xff, 0x1f, 0, 0, 0, 0, 0, 0xff, 0xff, 0}, D::read, 0, P::allowed, L::none,
     handle_pr_in, "PERSISTENT RESERVE IN / READ FULL STATUS"},
#define PROUT(sa, label)                                                                          \
  {0x5f, sa, 10, {0xff, 0x1f, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0}, D::write, 0, P::allowed,    \
   L::none, handle_pr_out, "PERSISTENT RESERVE OUT / " label}
    PROUT(0x00, "REGISTER"),
    PROUT(0x01, "RESERVE"),
    PROUT(0x02, "RELEASE"),
    PROUT(0x03, "CLEAR"),
    PROUT(0x04, "PREEMPT"),
    PROUT(0x05, "PREEMPT AND ABORT"),
    PROUT(0x06, "REGISTER AND IGNORE EXISTING KEY"),
    PROUT(0x07, "REGISTER AND MOVE"),
#undef PROUT
    {0x88, -1, 16, {0xff, 0x1e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                    0xff, 0x1f, 0},
     D::read, kIo, P::read, L::cdb16, handle_read, "READ (16)"},
    {0x89, -1, 16, {0xff, 0x1a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0xff,
                    0x1f, 0},
     D::write, kWrites | kFuaBits, P::write, L::caw, handle_compare_and_write,
     "COMPARE AND WRITE"},
    {0x8a, -1, 16, {0xff, 0x1a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                    0xff, 0x1f, 0},
     D::write, kIo | kWrites, P::write, L::cdb16, handle_write, "WRITE (16)"},
    {0x8b, -1, 16, {0xff, 0x1a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                    0xff, 0x1f, 0},
     D::write, kIo | kWrites, P::write, L::cdb16, handle_orwrite, "ORWRITE (16)"},
    {0x8e, -1, 16, {0xff, 0x16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                    0xff, 0x1f, 0},
     D::write, kIo | kWrites, P::write, L::cdb16, handle_write_and_verify,
     "WRITE AND VERIFY (16)"},
    {0x8f, -1, 16, {0xff, 0x16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                    0xff, 0x1f, 0},
     D::write, kTransferLimit, P::read, L::cdb16, handle_verify, "VERIFY (16)"},
    {0x90, -1, 16, {0xff, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                    0xff, 0x1f, 0},
     D::none, 0, P::read, L::cdb16, handle_prefetch, "PRE-FETCH (16)"},
    {0x91, -1, 16, {0xff, 0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                    0xff, 0x1f, 0},
     D::none, 0, P::read, L::cdb16, handle_synchronize_cache, "SYNCHRONIZE CACHE (16)"},
    {0x93, -1, 16, {0xff, 0x09, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                    0xff, 0x1f, 0},
     D::write, kWrites, P::write, L::cdb16, handle_write_same, "WRITE SAME (16)"},
    {0x9e, 0x10, 16, {0xff, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0}, D::read,
     0, P::allowed, L::none, handle_read_capacity16, "READ CAPACITY (16)"},
    {0x9e, 0x12, 16, {0xff, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                      0xff, 0xff, 0, 0},
     D::read, 0, P::read, L::lba16_only, handle_get_lba_status, "GET LBA STATUS"},
    {0xa0, -1, 12, {0xff, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0}, D::read,
     kNoLun | kUaAllowed | kSpc2Allowed, P::allowed, L::none, handle_report_luns, "REPORT LUNS"},
    {0xa3, 0x0c, 12, {0xff, 0x1f, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0}, D::read,
     kSpc2Allowed, P::allowed, L::none, handle_report_supported_opcodes,
     "REPORT SUPPORTED OPERATION CODES"},
    {0xa3, 0x0d, 12, {0xff, 0x1f, 0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0}, D::read,
     kSpc2Allowed, P::allowed, L::none, handle_report_supported_tmfs,
     "REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS"},
    {0xa8, -1, 12, {0xff, 0x1e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0}, D::read,
     kIo, P::read, L::cdb12, handle_read, "READ (12)"},
    {0xaa, -1, 12, {0xff, 0x1a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0},
     D::write, kIo | kWrites, P::write, L::cdb12, handle_write, "WRITE (12)"},
    {0xae, -1, 12, {0xff, 0x16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0},
     D::write, kIo | kWrites, P::write, L::cdb12, handle_write_and_verify,
     "WRITE AND VERIFY (12)"},
    {0xaf, -1, 12, {0xff, 0x16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0},
     D::write, kTransferLimit, P::read, L::cdb12, handle_verify, "VERIFY (12)"},
    {0xb7, -1, 12, {0xff, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0}, D::read, 0,
     P::read, L::none, handle_read_defect_data, "READ DEFECT DATA (12)"},
};
// clang-format on

}  // namespace

std::span<const CommandSpec> command_table() {
  return kCommands;
}

bool opcode_has_service_actions(uint8_t opcode) {
  for (const auto& c : kCommands)
    if (c.opcode == opcode) return c.service_action >= 0;
  return false;
}

uint16_t service_action_of(std::span<const uint8_t> cdb) {
  return cdb.size() > 1 ? cdb[1] & 0x1f : 0;
}

namespace {

// Opcode -> index of its first row (-1: unsupported), so dispatch costs one lookup.
constexpr std::array<int16_t, 256> kFirstRow = [] {
  std::array<int16_t, 256> a{};
  a.fill(-1);
  for (size_t i = std::size(kCommands); i-- > 0;)
    a[kCommands[i].opcode] = int16_t(i);
  return a;
}();

}  // namespace

const CommandSpec* find_command(uint8_t opcode, uint16_t sa, bool& opcode_known) {
  const int16_t first = kFirstRow[opcode];
  opcode_known = first >= 0;
  if (!opcode_known) return nullptr;
  for (size_t i = size_t(first); i < std::size(kCommands) && kCommands[i].opcode == opcode; ++i) {
    const CommandSpec& c = kCommands[i];
    if (c.service_action < 0 || uint16_t(c.service_action) == sa) return &c;
  }
  return nullptr;
}

}  // namespace swiftness::scsi
