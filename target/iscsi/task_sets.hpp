// The SCSI layer's view of the iSCSI task sets: every live session's tasks, reached through the
// session registry, each aborted on its own connection's strand.
#pragma once

#include "target/scsi/task_sets.hpp"

namespace swiftness::iscsi {

class SessionRegistry;

class IscsiTaskSets final : public scsi::TaskSets {
 public:
  explicit IscsiTaskSets(SessionRegistry& sessions) : sessions_(sessions) {}
  boost::asio::awaitable<std::vector<uint64_t>> abort(AbortRequest req) override;

 private:
  SessionRegistry& sessions_;
};

}  // namespace swiftness::iscsi
