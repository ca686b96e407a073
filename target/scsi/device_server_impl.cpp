#include "target/scsi/device_server_impl.hpp"

#include "core/bytes.hpp"
#include "core/log.hpp"
#include "target/scsi/vpd.hpp"

namespace swiftness::scsi {

using boost::asio::awaitable;

ItNexusId it_nexus_of(const Nexus& n) {
  return ItNexusId{n.initiator_port_name(), n.target_portal_group};
}

ItNexusId Ctx::it_nexus() const {
  return cmd.nexus ? it_nexus_of(*cmd.nexus) : ItNexusId{"", 1};
}

CommandResult good() {
  return CommandResult{};
}

CommandResult reservation_conflict() {
  CommandResult r;
  r.status = Status::reservation_conflict;
  return r;
}

CommandResult Ctx::fail(SenseInfo info) const {
  CommandResult r;
  r.status = Status::check_condition;
  r.sense = build_sense(info, descriptor_sense());
  return r;
}

CommandResult Ctx::storage_error(std::error_code ec, bool writing) const {
  if (is_transient_block_error(ec)) {
    CommandResult r;
    r.status = Status::busy;  // SAM-5 5.3.1: the initiator retries later
    return r;
  }
  return fail(sense_for_block_error(ec, writing));
}

CommandResult Ctx::data_in(const DataInWriter& w) const {
  CommandResult r;
  r.data_in_length = w.written();
  r.full_length = w.transfer_length();
  return r;
}

namespace {

// Decodes the LBA and block count at the positions `f` names.
void decode_lba(LbaField f, std::span<const uint8_t> c, uint64_t& lba, uint64_t& blocks) {
  switch (f) {
    case LbaField::none:
      break;
    case LbaField::cdb6:
      lba = core::load_be24(&c[1]) & 0x1fffff;
      blocks = c[4] == 0 ? 256 : c[4];  // SBC-3 5.11: TRANSFER LENGTH 0 means 256 blocks
      break;
    case LbaField::cdb10:
      lba = core::load_be32(&c[2]);
      blocks = core::load_be16(&c[7]);
      break;
    case LbaField::cdb12:
      lba = core::load_be32(&c[2]);
      blocks = core::load_be32(&c[6]);
      break;
    case LbaField::cdb16:
      lba = core::load_be64(&c[2]);
      blocks = core::load_be32(&c[10]);
      break;
    case LbaField::caw:
      lba = core::load_be64(&c[2]);
      blocks = c[13];
      break;
    case LbaField::lba16_only:
      lba = core::load_be64(&c[2]);
      blocks = 0;
      break;
  }
}

// The device's geometry, with the default MAXIMUM TRANSFER LENGTH when it sets none: commands
// are checked against the same limit VPD B0 reports and the transport sizes buffers by.
core::BlockGeometry effective_geometry(const core::BlockDevice& dev) {
  core::BlockGeometry g = dev.geometry();
  if (g.max_transfer_blocks == 0 && g.block_size != 0)
    g.max_transfer_blocks =
        std::max(kDefaultMaxTransferBytes / g.block_size, g.optimal_transfer_blocks);
  return g;
}

}  // namespace

std::optional<uint64_t> DeviceServerImpl::transfer_bytes(uint64_t lun,
                                                         std::span<const uint8_t> cdb) const {
  if (cdb.empty()) return std::nullopt;
  bool opcode_known = false;
  const CommandSpec* spec = find_command(cdb[0], service_action_of(cdb), opcode_known);
  if (!spec || !(spec->flags & cmd_flag::kTransferLimit) || cdb.size() < spec->cdb_length)
    return std::nullopt;
  switch (spec->lba) {
    case LbaField::cdb6:
    case LbaField::cdb10:
    case LbaField::cdb12:
    case LbaField::cdb16:
      break;
    default:
      return std::nullopt;
  }
  const auto lu = find_lu(lun);
  if (!lu) return std::nullopt;
  const core::BlockGeometry g = effective_geometry(lu->device());
  uint64_t lba = 0, blocks = 0;
  decode_lba(spec->lba, cdb, lba, blocks);
  if (blocks > g.max_transfer_blocks) return 0;
  return blocks * g.block_size;
}

DeviceServerImpl::DeviceServerImpl(std::string target_name, std::vector<LogicalUnitSpec> lus,
                                   TaskSets* task_sets)
    : target_name_(std::move(target_name)), task_sets_(task_sets) {
  auto m = std::make_shared<LuMap>();
  for (auto& s : lus) {
    const uint64_t lun = s.lun;
    m->emplace(lun, std::make_shared<LogicalUnitState>(std::move(s)));
  }
  lus_ = std::move(m);
}

std::unique_ptr<DeviceServer> make_device_server(std::string target_name,
                                                 std::vector<LogicalUnitSpec> lus,
                                                 TaskSets* task_sets) {
  return std::make_unique<DeviceServerImpl>(std::move(target_name), std::move(lus), task_sets);
}

std::shared_ptr<const DeviceServerImpl::LuMap> DeviceServerImpl::snapshot() const {
  std::lock_guard lock(lus_mu_);
  return lus_;
}

void DeviceServerImpl::publish(std::shared_ptr<const LuMap> m) {
  std::lock_guard lock(lus_mu_);
  lus_ = std::move(m);
}

std::shared_ptr<LogicalUnitState> DeviceServerImpl::find_lu(uint64_t lun) const {
  auto m = snapshot();
  auto it = m->find(lun);
  return it == m->end() ? nullptr : it->second;
}

std::vector<uint64_t> DeviceServerImpl::luns() const {
  std::vector<uint64_t> out;
  for (const auto& [lun, _] : *snapshot())
    out.push_back(lun);
  return out;
}

void DeviceServerImpl::inventory_changed(const LuMap& m, uint64_t except) {
  // SPC-4 7.6 (REPORT LUNS) and SAM-5 5.14: every I_T nexus learns that the inventory changed
  // through a unit attention on the LUs it can still reach. Initiators rescan on it (Linux
  // sd/scsi_scan, Windows storport) and retry the command, so sessions carry on.
  const auto ids = all_nexus_ids();
  for (const auto& [lun, lu] : m) {
    if (lun == except) continue;
    for (auto id : ids)
      lu->establish_ua(id, SenseReason::reported_luns_data_changed);
  }
}

bool DeviceServerImpl::add_logical_unit(const LogicalUnitSpec& spec) {
  std::lock_guard change(inventory_mu_);
  auto m = std::make_shared<LuMap>(*snapshot());
  if (m->count(spec.lun)) return false;
  auto lu = std::make_shared<LogicalUnitState>(spec);
  // A new LU is "powered on" for every nexus already logged in (SAM-5 6.3.2).
  for (auto id : all_nexus_ids())
    lu->establish_ua(id, SenseReason::power_on_reset);
  m->emplace(spec.lun, std::move(lu));
  publish(m);
  inventory_changed(*m, spec.lun);
  return true;
}

std::weak_ptr<const void> DeviceServerImpl::remove_logical_unit(uint64_t lun) {
  std::lock_guard change(inventory_mu_);
  auto m = std::make_shared<LuMap>(*snapshot());
  auto it = m->find(lun);
  if (it == m->end()) return {};
  std::weak_ptr<const void> gone = it->second;
  m->erase(it);
  publish(m);
  inventory_changed(*m, UINT64_MAX);
  return gone;
}

std::vector<uint64_t> DeviceServerImpl::nexus_ids_for(const ItNexusId& id) const {
  std::vector<uint64_t> out;
  std::lock_guard lock(nexus_mu_);
  for (const auto& [nid, n] : nexuses_)
    if (n->target_portal_group == id.target_portal_group &&
        n->initiator_port_name() == id.initiator_port)
      out.push_back(nid);
  return out;
}

std::vector<uint64_t> DeviceServerImpl::all_nexus_ids() const {
  std::vector<uint64_t> out;
  std::lock_guard lock(nexus_mu_);
  for (const auto& [nid, _] : nexuses_)
    out.push_back(nid);
  return out;
}

void DeviceServerImpl::deliver(LogicalUnitState& lu,
                               const std::vector<std::pair<ItNexusId, SenseReason>>& uas) const {
  for (const auto& [who, reason] : uas)
    for (auto id : nexus_ids_for(who))
      lu.establish_ua(id, reason);
}

void DeviceServerImpl::nexus_added(const std::shared_ptr<const Nexus>& nexus) {
  {
    std::lock_guard lock(nexus_mu_);
    nexuses_[nexus->id] = nexus;
  }
  // SAM-5 6.3.2: a new I_T nexus starts with POWER ON, RESET, OR BUS DEVICE RESET OCCURRED.
  for (auto& [_, lu] : *snapshot())
    lu->establish_ua(nexus->id, SenseReason::power_on_reset);
}

void DeviceServerImpl::nexus_removed(const Nexus& nexus) {
  {
    // The transport may reuse an id for the same initiator port: a new login of that port can
    // be registered before the old connection is torn down. Only forget our own entry.
    std::lock_guard lock(nexus_mu_);
    auto it = nexuses_.find(nexus.id);
    if (it != nexuses_.end() && it->second.get() == &nexus) {
      nexuses_.erase(it);
      for (auto& [_, lu] : *snapshot())
        lu->drop_nexus(nexus.id);
    }
  }
  const ItNexusId who = it_nexus_of(nexus);
  for (auto& [_, lu] : *snapshot()) {
    // SPC-2 5.5.1: logout or loss of the I_T nexus releases its RESERVE(6)/(10) reservation,
    // even if the same initiator port logs in again. Persistent reservations survive
    // (SPC-4 5.13.1).
    std::lock_guard lock(lu->mutex());
    if (lu->spc2_holder() && *lu->spc2_holder() == who) {
      lu->spc2_holder().reset();
      lu->reservations_changed();
    }
  }
}

void DeviceServerImpl::reset_lu(LogicalUnitState& lu) {
  {
    std::lock_guard lock(lu.mutex());
    lu.spc2_holder().reset();  // SPC-2 5.5.2: a reset releases RESERVE(6)/(10)
    lu.reservations_changed();
  }
  for (auto id : all_nexus_ids())
    lu.establish_ua(id, SenseReason::power_on_reset);
}

TmfResponse DeviceServerImpl::logical_unit_reset(const Nexus&, uint64_t lun) {
  auto lu = find_lu(lun);
  if (!lu) return TmfResponse::lun_does_not_exist;
  reset_lu(*lu);
  return TmfResponse::function_complete;
}

void DeviceServerImpl::commands_cleared(uint64_t lun, const std::vector<uint64_t>& nexus_ids) {
  // SAM-5 5.6 with TAS=0: the nexuses lose their tasks silently and learn why from this UA.
  if (auto lu = find_lu(lun))
    for (auto id : nexus_ids)
      lu->establish_ua(id, SenseReason::commands_cleared_by_another_initiator);
}

TmfResponse DeviceServerImpl::target_reset(const Nexus&, TmfFunction) {
  for (auto& [_, lu] : *snapshot())
    reset_lu(*lu);
  return TmfResponse::function_complete;
}

std::optional<CommandResult> DeviceServerImpl::check_lu(Ctx& ctx) const {
  LogicalUnitState& lu = *ctx.lu;
  const CommandSpec& spec = ctx.spec;
  const uint64_t nexus_id = ctx.cmd.nexus ? ctx.cmd.nexus->id : 0;

  // 1. Capacity changes are noticed here, then reported as a unit attention (SBC-3 4.?).
  if (lu.capacity_changed(ctx.geo.block_count)) {
    for (auto id : all_nexus_ids())
      lu.establish_ua(id, SenseReason::capacity_data_changed);
  }

  // 2. Pending unit attention (SAM-5 5.14): reported instead of running the command.
  if (!(spec.flags & cmd_flag::kUaAllowed)) {
    if (auto ua = lu.take_ua(nexus_id)) return ctx.fail(*ua);
  }

  // 3. Reservation conflict: SPC-2 RESERVE first, then persistent reservations.
  if (lu.maybe_reserved()) {
    const ItNexusId who = ctx.it_nexus();
    std::lock_guard lock(lu.mutex());
    if (const auto& h = lu.spc2_holder(); h && !(*h == who)) {
      if (!(spec.flags & cmd_flag::kSpc2Allowed)) return reservation_conflict();
    }
    if (lu.pr().conflicts(who, spec.pr)) return reservation_conflict();
  }

  // 4. Write protection (SPC-4 7.5.8 SWP, or a read-only device).
  if ((spec.flags & cmd_flag::kWrites) && (ctx.geo.read_only || lu.software_write_protect()))
    return ctx.fail(SenseReason::write_protected);

  // 5. LBA range and transfer length (SBC-3 4.5).
  if (spec.lba != LbaField::none) {
    const uint64_t n = ctx.geo.block_count;
    // A zero count (SYNCHRONIZE CACHE / PRE-FETCH: "to the end") only needs a valid start;
    // GET LBA STATUS needs an existing block.
    const bool out_of_range =
        spec.lba == LbaField::lba16_only ? ctx.lba >= n : (ctx.lba > n || ctx.blocks > n - ctx.lba);
    if (out_of_range) return ctx.fail(SenseInfo{SenseReason::lba_out_of_range, ctx.lba});
    if ((spec.flags & cmd_flag::kTransferLimit) && ctx.geo.max_transfer_blocks != 0 &&
        ctx.blocks > ctx.geo.max_transfer_blocks)
      return ctx.invalid_cdb_field(spec.lba == LbaField::cdb16 ? 10 : 7);
  }
  return std::nullopt;
}

awaitable<CommandResult> DeviceServerImpl::execute(const Command& cmd) {
  static const CommandSpec kNoSpec{};
  const std::span<const uint8_t> cdb = cmd.cdb;
  // Held for the whole command: a reload may remove the LU meanwhile.
  const std::shared_ptr<LogicalUnitState> lu_ref = find_lu(cmd.lun);
  LogicalUnitState* lu = lu_ref.get();
  if (cdb.empty()) {
    Ctx ctx{cmd, kNoSpec, *this, lu, {}, cdb};
    co_return ctx.fail(SenseReason::invalid_command_operation_code);
  }

  bool opcode_known = false;
  const CommandSpec* spec = find_command(cdb[0], service_action_of(cdb), opcode_known);

  // 1. The logical unit must exist, except for the commands SPC-4 answers for any LUN
  //    (INQUIRY answers peripheral qualifier 3, REPORT LUNS, REQUEST SENSE).
  if (!lu && !(spec && (spec->flags & cmd_flag::kNoLun))) {
    Ctx ctx{cmd, spec ? *spec : kNoSpec, *this, nullptr, {}, cdb};
    co_return ctx.fail(SenseReason::logical_unit_not_supported);
  }
  // 2. Known opcode and service action.
  if (!spec) {
    Ctx ctx{cmd, kNoSpec, *this, lu, {}, cdb};
    if (!opcode_known) co_return ctx.fail(SenseReason::invalid_command_operation_code);
    co_return ctx.invalid_cdb_field(1, 4);
  }
  Ctx ctx{cmd, *spec, *this, lu, lu ? effective_geometry(lu->device()) : core::BlockGeometry{},
          cdb};
  // 3. The CDB is as long as the command needs, and every set bit is one we implement.
  if (cdb.size() < spec->cdb_length) co_return ctx.invalid_cdb_field(uint16_t(cdb.size()));
  for (uint16_t i = 0; i < spec->cdb_length; ++i) {
    if (const uint8_t extra = cdb[i] & ~spec->usage[i]) {
      int8_t bit = 7;
      while (!(extra & (1u << bit)))
        --bit;
      co_return ctx.invalid_cdb_field(i, bit);
    }
  }
  decode_lba(spec->lba, cdb, ctx.lba, ctx.blocks);
  // 4-6. Unit attention, reservations, write protection, LBA range, transfer length.
  if (lu) {
    if (auto early = check_lu(ctx)) co_return std::move(*early);
  }
  co_return co_await spec->handler(ctx);
}

}  // namespace swiftness::scsi
