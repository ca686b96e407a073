// What the transport calls. One DeviceServer per target: it owns the logical units (LUN map),
// and all per-LU state (mode pages, unit attentions, reservations).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <vector>

#include "target/scsi/command.hpp"

namespace swiftness::scsi {

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
  virtual bool lun_exists(uint64_t lun) const = 0;
  virtual std::vector<uint64_t> luns() const = 0;
};

}  // namespace swiftness::scsi
