#include "target/iscsi/task_sets.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "target/iscsi/connection.hpp"

namespace swiftness::iscsi {

namespace asio = boost::asio;

asio::awaitable<std::vector<uint64_t>> IscsiTaskSets::abort(AbortRequest req) {
  std::vector<uint64_t> hit;
  // One connection after the other: each waits for its own running I/O, and a target rarely
  // has more than a handful of nexuses on one logical unit.
  for (const auto& conn : sessions_.all()) {
    auto nexus = conn->nexus();
    if (!nexus || (req.nexuses && !req.nexuses(*nexus))) continue;
    std::optional<uint32_t> spare;
    if (nexus->id == req.spare_nexus) spare = req.spare_tag;
    // Named first: GCC 12 destroys temporaries in a co_await expression twice.
    auto op = conn->abort_and_wait(req.lun, spare);
    const bool any = co_await asio::co_spawn(conn->strand(), std::move(op), asio::use_awaitable);
    if (any) hit.push_back(nexus->id);
  }
  co_return hit;
}

}  // namespace swiftness::iscsi
