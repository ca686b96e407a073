// The DeviceServer behind make_device_server(): the LUN map, the live I_T nexuses, and the
// dispatcher that runs the shared checks once, in order, before a command's handler.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "target/scsi/handlers.hpp"
#include "target/scsi/logical_unit.hpp"
#include "target/scsi/logical_unit_state.hpp"

namespace swiftness::scsi {

class DeviceServerImpl final : public DeviceServer {
 public:
  DeviceServerImpl(std::string target_name, std::vector<LogicalUnitSpec> lus, TaskSets* task_sets);

  boost::asio::awaitable<CommandResult> execute(const Command& cmd) override;
  void nexus_added(const std::shared_ptr<const Nexus>& nexus) override;
  void nexus_removed(const Nexus& nexus) override;
  TmfResponse logical_unit_reset(const Nexus& by, uint64_t lun) override;
  TmfResponse target_reset(const Nexus& by, TmfFunction kind) override;
  void commands_cleared(uint64_t lun, const std::vector<uint64_t>& nexus_ids) override;
  bool lun_exists(uint64_t lun) const override { return snapshot()->count(lun) != 0; }
  std::optional<uint64_t> transfer_bytes(uint64_t lun, std::span<const uint8_t> cdb) const override;
  bool add_logical_unit(const LogicalUnitSpec& spec) override;
  std::weak_ptr<const void> remove_logical_unit(uint64_t lun) override;
  std::vector<uint64_t> luns() const override;

  const std::string& target_name() const { return target_name_; }
  TaskSets* task_sets() const { return task_sets_; }
  // Holding the result keeps the LU alive even if a reload removes it meanwhile.
  std::shared_ptr<LogicalUnitState> find_lu(uint64_t lun) const;
  // Live nexus ids whose I_T nexus identity is `id` (a registrant can be logged in on several
  // connections only through distinct ISIDs, so usually one).
  std::vector<uint64_t> nexus_ids_for(const ItNexusId& id) const;
  std::vector<uint64_t> all_nexus_ids() const;
  // Establishes unit attentions produced by a reservation change on `lu`.
  void deliver(LogicalUnitState& lu,
               const std::vector<std::pair<ItNexusId, SenseReason>>& uas) const;

 private:
  void reset_lu(LogicalUnitState& lu);
  // The pre-handler checks that need the LU (UA, reservations, write protect, LBA range).
  std::optional<CommandResult> check_lu(Ctx& ctx) const;

  std::string target_name_;
  TaskSets* task_sets_;
  // Copy-on-write: a command takes a snapshot (one lock, one reference count), a reload
  // publishes a new map. Removed LUs live on while a command still holds them.
  using LuMap = std::map<uint64_t, std::shared_ptr<LogicalUnitState>>;
  std::shared_ptr<const LuMap> snapshot() const;
  void publish(std::shared_ptr<const LuMap> m);
  void inventory_changed(const LuMap& m, uint64_t except);
  mutable std::mutex lus_mu_;
  std::shared_ptr<const LuMap> lus_;
  std::mutex inventory_mu_;  // one inventory change at a time
  mutable std::mutex nexus_mu_;
  std::unordered_map<uint64_t, std::shared_ptr<const Nexus>> nexuses_;
};

ItNexusId it_nexus_of(const Nexus& n);

}  // namespace swiftness::scsi
