// PERSISTENT RESERVE IN/OUT (SPC-4 6.15, 6.16) and RESERVE/RELEASE (6)/(10) (SPC-2 7.21-7.24).
#include <algorithm>
#include <string>

#include "core/bytes.hpp"
#include "target/scsi/device_server_impl.hpp"
#include "target/scsi/handlers.hpp"

namespace swiftness::scsi {

using boost::asio::awaitable;

namespace {

// SPC-4 7.6.4.6 iSCSI TransportID, FORMAT CODE 01b: byte 0 = 45h, bytes 2-3 ADDITIONAL LENGTH,
// then "<name>,i,0x<ISID>" NUL-terminated and padded to a multiple of four.
size_t write_transport_id(DataInWriter& w, size_t off, const ItNexusId& n) {
  const size_t len = (n.initiator_port.size() + 1 + 3) & ~size_t(3);
  w.u8(off, 0x45);
  w.u16(off + 2, uint16_t(len));
  w.bytes(off + 4, n.initiator_port.data(), n.initiator_port.size());
  w.extend(off + 4 + len);
  return 4 + len;
}

std::optional<ItNexusId> parse_transport_id(std::span<const uint8_t> t, uint16_t tpg) {
  if (t.size() < 4 || (t[0] & 0x0f) != 0x05) return std::nullopt;  // PROTOCOL IDENTIFIER iSCSI
  const size_t len = core::load_be16(&t[2]);
  if (4 + len > t.size()) return std::nullopt;
  std::string name(reinterpret_cast<const char*>(&t[4]), len);
  name.resize(name.find('\0') == std::string::npos ? name.size() : name.find('\0'));
  // FORMAT CODE 00b carries only the name: not an I_T nexus we can register.
  if ((t[0] >> 6) != 1 || name.find(",i,0x") == std::string::npos) return std::nullopt;
  // ISIDs compare case-insensitively; Nexus::initiator_port_name() prints lower case.
  const size_t pos = name.find(",i,0x") + 5;
  for (size_t i = pos; i < name.size(); ++i)
    name[i] = char(std::tolower(name[i]));
  return ItNexusId{name, tpg};
}

// SPC-4 5.13.11.2.4: PREEMPT AND ABORT also aborts every task of the preempted nexuses on this
// logical unit (not this command), and completes only once they are gone. With TAS=0 the
// aborted tasks get no status; their nexuses learn why from COMMANDS CLEARED BY ANOTHER
// INITIATOR.
awaitable<void> abort_preempted_tasks(Ctx& c, std::vector<ItNexusId> preempted) {
  TaskSets* task_sets = c.server.task_sets();
  if (!task_sets || preempted.empty()) co_return;
  const uint64_t me = c.cmd.nexus ? c.cmd.nexus->id : 0;
  TaskSets::AbortRequest req;
  req.lun = c.cmd.lun;
  req.nexuses = [p = std::move(preempted)](const Nexus& n) {
    return std::find(p.begin(), p.end(), it_nexus_of(n)) != p.end();
  };
  req.spare_nexus = me;
  req.spare_tag = c.cmd.task_tag;
  std::vector<uint64_t> hit = co_await task_sets->abort(std::move(req));
  std::erase(hit, me);
  c.server.commands_cleared(c.cmd.lun, hit);
}

}  // namespace

awaitable<CommandResult> handle_pr_in(Ctx& c) {
  const uint8_t sa = c.cdb[1] & 0x1f;
  DataInWriter w(c.cmd.data_in, core::load_be16(&c.cdb[7]));
  std::lock_guard lock(c.lu->mutex());
  const auto& pr = c.lu->pr();
  switch (sa) {
    case 0: {  // READ KEYS: PRGENERATION, ADDITIONAL LENGTH, the keys
      w.u32(0, pr.generation());
      size_t off = 8;
      for (const auto& r : pr.registrations())
        w.u64(off, r.key), off += 8;
      w.extend(off);
      w.u32(4, uint32_t(off - 8));
      break;
    }
    case 1: {  // READ RESERVATION
      w.u32(0, pr.generation());
      w.extend(8);
      if (const auto& res = pr.reservation()) {
        const bool all = res->type == PrType::write_exclusive_all_registrants ||
                         res->type == PrType::exclusive_access_all_registrants;
        uint64_t key = 0;
        // SPC-4 6.15.3.3: for the all-registrants types the key is zero.
        if (!all)
          for (const auto& r : pr.registrations())
            if (r.nexus == res->holder) key = r.key;
        w.u32(4, 16);
        w.u64(8, key);
        w.u8(21, uint8_t(res->type));  // SCOPE(7-4)=0 TYPE(3-0)
        w.extend(24);
      }
      break;
    }
    case 2: {  // REPORT CAPABILITIES
      w.u16(0, 8);
      // byte 2: RLR_C(7) CRH(4) SIP_C(3) ATP_C(2) PTPL_C(0): reserve/release per CRH, APTPL.
      w.u8(2, 0x11);
      // byte 3: TMV(7) ALLOW COMMANDS(6-4)=001b PTPL_A(0)
      w.u8(3, uint8_t(0x80 | 0x10 | (pr.aptpl() ? 1 : 0)));
      // PERSISTENT RESERVATION TYPE MASK: WR_EX_AR(7) EX_AC_RO(6) WR_EX_RO(5) EX_AC(3) WR_EX(1);
      // byte 5: EX_AC_AR(0).
      w.u8(4, 0xea);
      w.u8(5, 0x01);
      w.extend(8);
      break;
    }
    case 3: {  // READ FULL STATUS
      w.u32(0, pr.generation());
      size_t off = 8;
      for (const auto& r : pr.registrations()) {
        w.u64(off, r.key);
        const bool holder = pr.is_holder(r.nexus);
        w.u8(off + 12, holder ? 0x01 : 0x00);  // ALL_TG_PT(1) R_HOLDER(0)
        if (holder) w.u8(off + 13, uint8_t(pr.reservation()->type));
        w.u16(off + 18, 1);  // RELATIVE TARGET PORT IDENTIFIER
        const size_t tid = write_transport_id(w, off + 24, r.nexus);
        w.u32(off + 20, uint32_t(tid));  // ADDITIONAL DESCRIPTOR LENGTH
        off += 24 + tid;
      }
      w.extend(off);
      w.u32(4, uint32_t(off - 8));
      break;
    }
    default:
      co_return c.invalid_cdb_field(1, 4);
  }
  co_return c.data_in(w);
}

awaitable<CommandResult> handle_pr_out(Ctx& c) {
  const uint8_t sa = c.cdb[1] & 0x1f;
  const uint32_t param_len = core::load_be32(&c.cdb[5]);
  const auto* p = reinterpret_cast<const uint8_t*>(c.cmd.data_out.data());
  const auto action = PrOutAction(sa);
  // SPC-4 6.16.3: the basic parameter list is 24 bytes (more only with SPEC_I_PT, which we do
  // not support, or for REGISTER AND MOVE).
  if (action == PrOutAction::register_and_move) {
    if (param_len < 24) co_return c.fail(SenseReason::parameter_list_length_error);
  } else if (param_len != 24) {
    co_return c.fail(SenseReason::parameter_list_length_error);
  }
  if (c.cmd.data_out.size() < param_len) co_return c.fail(SenseReason::parameter_list_length_error);

  PrOutRequest req{action};
  req.scope = c.cdb[2] >> 4;
  req.type = c.cdb[2] & 0x0f;
  req.key = core::load_be64(p);
  req.service_action_key = core::load_be64(p + 8);
  if (action == PrOutAction::register_and_move) {
    // byte 17: UNREG(1) APTPL(0); 18-19 RELATIVE TARGET PORT IDENTIFIER; 20-23 TRANSPORTID
    // PARAMETER DATA LENGTH; 24.. TransportID.
    req.unreg = p[17] & 0x02;
    req.aptpl = p[17] & 0x01;
    const uint32_t tid_len = core::load_be32(p + 20);
    if (24 + uint64_t(tid_len) > param_len)
      co_return c.fail(SenseReason::parameter_list_length_error);
    const uint16_t tpg = c.cmd.nexus ? c.cmd.nexus->target_portal_group : 1;
    req.move_to = parse_transport_id({p + 24, tid_len}, tpg);
  } else {
    // byte 20: SPEC_I_PT(3) ALL_TG_PT(2) APTPL(0)
    req.spec_i_pt = p[20] & 0x08;
    req.all_tg_pt = p[20] & 0x04;
    req.aptpl = p[20] & 0x01;
  }

  PrOutcome out;
  {
    std::lock_guard lock(c.lu->mutex());
    out = c.lu->pr().execute(c.it_nexus(), req);
    if (out.state_changed) {
      c.lu->reservations_changed();
      if (!c.lu->persist_pr()) {
        // The change is in effect but could not be made persistent: say so (SPC-4 5.13.5).
        out.kind = PrOutcome::Kind::check_condition;
        out.sense = SenseInfo{SenseReason::insufficient_registration_resources};
      }
    }
  }
  c.server.deliver(*c.lu, out.unit_attentions);
  if (action == PrOutAction::preempt_and_abort && out.kind == PrOutcome::Kind::good) {
    // Named first: GCC 12 destroys temporaries in a co_await expression twice.
    std::vector<ItNexusId> preempted = std::move(out.preempted);
    co_await abort_preempted_tasks(c, std::move(preempted));
  }
  switch (out.kind) {
    case PrOutcome::Kind::good:
      co_return good();
    case PrOutcome::Kind::conflict:
      co_return reservation_conflict();
    case PrOutcome::Kind::check_condition:
      break;
  }
  co_return c.fail(*out.sense);
}

awaitable<CommandResult> handle_reserve(Ctx& c) {
  const ItNexusId me = c.it_nexus();
  std::lock_guard lock(c.lu->mutex());
  // SPC-4 5.13.3: RESERVE while a persistent reservation exists is a conflict.
  if (c.lu->pr().reservation()) co_return reservation_conflict();
  auto& holder = c.lu->spc2_holder();
  if (holder && !(*holder == me)) co_return reservation_conflict();
  holder = me;
  c.lu->reservations_changed();
  co_return good();
}

awaitable<CommandResult> handle_release(Ctx& c) {
  const ItNexusId me = c.it_nexus();
  std::lock_guard lock(c.lu->mutex());
  if (c.lu->pr().reservation()) co_return reservation_conflict();
  auto& holder = c.lu->spc2_holder();
  // SPC-2 7.24: RELEASE from a nexus that holds nothing is GOOD and has no effect.
  if (holder && *holder == me) {
    holder.reset();
    c.lu->reservations_changed();
  }
  co_return good();
}

}  // namespace swiftness::scsi
