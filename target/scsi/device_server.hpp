// What the transport calls. One DeviceServer per target: it owns the logical units (LUN map),
// and all per-LU state (mode pages, unit attentions, reservations).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "target/scsi/command.hpp"

namespace swiftness::scsi {

struct LogicalUnitSpec;

class DeviceServer {
 public:
  virtual ~DeviceServer() = default;

  // Runs one command to completion. Never throws; every failure is a status + sense.
  virtual boost::asio::awaitable<CommandResult> execute(const Command& cmd) = 0;

  // A new I_T nexus logged in (POWER ON/RESET unit attention is established for it) or went away.
  virtual void nexus_added(const std::shared_ptr<const Nexus>& nexus) = 0;
  virtual void nexus_removed(const Nexus& nexus) = 0;

  // The transport has aborted the outstanding tasks itself; these reset LU state as SAM-5 says
  // (LOGICAL UNIT RESET: unit attention to every nexus, release SPC-2 reservations, ...).
  virtual TmfResponse logical_unit_reset(const Nexus& by, uint64_t lun) = 0;
  virtual TmfResponse target_reset(const Nexus& by, TmfFunction kind) = 0;
  // The transport aborted these nexuses' tasks on `lun` at another nexus's request (CLEAR TASK
  // SET): they get COMMANDS CLEARED BY ANOTHER INITIATOR.
  virtual void commands_cleared(uint64_t lun, const std::vector<uint64_t>& nexus_ids) = 0;
  virtual bool lun_exists(uint64_t lun) const = 0;
  // The bytes a block transfer command (READ, WRITE, VERIFY) moves on `lun`, decoded from its
  // CDB, so the transport can size a buffer before the command runs instead of trusting the
  // initiator's expected length (issue 8). 0 when the transfer length is beyond the LUN's
  // MAXIMUM TRANSFER LENGTH (VPD B0): the command then fails with INVALID FIELD IN CDB before
  // it touches data. nullopt for other commands, unknown LUNs and malformed CDBs.
  virtual std::optional<uint64_t> transfer_bytes(uint64_t /*lun*/,
                                                 std::span<const uint8_t> /*cdb*/) const {
    return std::nullopt;
  }
  // The LUN inventory changes while running (SIGHUP reload). Every I_T nexus then gets REPORTED
  // LUNS DATA HAS CHANGED on the other LUs (SPC-4 7.2.x / SAM-5 5.14). add: false if the LUN
  // exists. remove: the LU leaves the inventory at once; the returned reference expires once
  // the commands that started before have finished with it (empty if there was no such LUN).
  virtual bool add_logical_unit(const LogicalUnitSpec&) { return false; }
  virtual std::weak_ptr<const void> remove_logical_unit(uint64_t) { return {}; }
  virtual std::vector<uint64_t> luns() const = 0;
};

}  // namespace swiftness::scsi
