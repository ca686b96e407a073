// SAM-5 task sets live in the transport: it owns the tasks, their data transfers and their
// responses. The device server asks it to abort tasks when a command from one I_T nexus ends
// tasks of others: PREEMPT AND ABORT (SPC-4 5.13.11.2.4).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "target/scsi/command.hpp"

namespace swiftness::scsi {

class TaskSets {
 public:
  struct AbortRequest {
    std::optional<uint64_t> lun;                // nullopt: every LUN (target reset)
    std::function<bool(const Nexus&)> nexuses;  // which I_T nexuses; empty: all of them
    // The task asking (a PERSISTENT RESERVE OUT) is never aborted by its own request.
    uint64_t spare_nexus = 0;
    std::optional<uint32_t> spare_tag;
  };

  virtual ~TaskSets() = default;

  // Aborts the matching tasks and completes once none of them runs any more (device I/O cannot
  // be cancelled half way; the transport bounds the wait). Aborted tasks get no status (TAS=0).
  // Returns the ids of the nexuses that lost at least one task.
  virtual boost::asio::awaitable<std::vector<uint64_t>> abort(AbortRequest req) = 0;
};

}  // namespace swiftness::scsi
