#include "target/scsi/persistent_reservations.hpp"

#include <algorithm>
#include <sstream>

namespace swiftness::scsi {

namespace {

using Kind = PrOutcome::Kind;

PrOutcome conflict() {
  return PrOutcome{Kind::conflict};
}
PrOutcome check(SenseReason r, std::optional<FieldPointer> f = std::nullopt) {
  PrOutcome o{Kind::check_condition};
  o.sense = SenseInfo{r, std::nullopt, f};
  return o;
}
// PR OUT parameter list (SPC-4 6.16.3): the CDB's TYPE is byte 2 bits 3-0.
constexpr FieldPointer kTypeField{true, 2, 3};

bool is_all_registrants(PrType t) {
  return t == PrType::write_exclusive_all_registrants ||
         t == PrType::exclusive_access_all_registrants;
}
bool is_registrants_only(PrType t) {
  return t == PrType::write_exclusive_registrants_only ||
         t == PrType::exclusive_access_registrants_only;
}

}  // namespace

bool valid_pr_type(uint8_t t) {
  return t == 1 || t == 3 || t == 5 || t == 6 || t == 7 || t == 8;
}

const PersistentReservations::Registration* PersistentReservations::find(const ItNexusId& n) const {
  for (const auto& r : regs_)
    if (r.nexus == n) return &r;
  return nullptr;
}

bool PersistentReservations::all_registrants() const {
  return res_ && is_all_registrants(res_->type);
}

bool PersistentReservations::is_holder(const ItNexusId& n) const {
  if (!res_) return false;
  // SPC-4 5.13.10: for the all-registrants types every registered I_T nexus is a holder.
  if (is_all_registrants(res_->type)) return is_registered(n);
  return res_->holder == n;
}

bool PersistentReservations::conflicts(const ItNexusId& by, PrAccess access) const {
  if (!res_ || access == PrAccess::allowed || is_holder(by)) return false;
  const PrType t = res_->type;
  const bool exclusive_access = t == PrType::exclusive_access ||
                                t == PrType::exclusive_access_registrants_only ||
                                t == PrType::exclusive_access_all_registrants;
  // SPC-4 Table 44: the registrants-only and all-registrants types let every registered nexus
  // through; others (and every non-holder for WE/EA) may read only under the Write Exclusive
  // types.
  if ((is_registrants_only(t) || is_all_registrants(t)) && is_registered(by)) return false;
  if (access == PrAccess::read) return exclusive_access;
  return true;
}

void PersistentReservations::unregister(const ItNexusId& n, PrOutcome& out) {
  const bool was_holder = res_ && !is_all_registrants(res_->type) && res_->holder == n;
  std::erase_if(regs_, [&](const Registration& r) { return r.nexus == n; });
  if (was_holder) {
    // SPC-4 5.13.11.2.2: a released registrants-only reservation tells the other registrants.
    if (is_registrants_only(res_->type))
      for (const auto& r : regs_)
        out.unit_attentions.push_back({r.nexus, SenseReason::reservations_released});
    res_.reset();
  } else if (all_registrants() && regs_.empty()) {
    res_.reset();  // the last registrant of an all-registrants reservation went away
  }
}

PrOutcome PersistentReservations::execute(const ItNexusId& by, const PrOutRequest& req) {
  switch (req.action) {
    case PrOutAction::register_key:
      return do_register(by, req, false);
    case PrOutAction::register_and_ignore:
      return do_register(by, req, true);
    case PrOutAction::reserve:
      return do_reserve(by, req);
    case PrOutAction::release:
      return do_release(by, req);
    case PrOutAction::clear:
      return do_clear(by, req.key);
    case PrOutAction::preempt:
    case PrOutAction::preempt_and_abort:
      return do_preempt(by, req);
    case PrOutAction::register_and_move:
      return do_register_and_move(by, req);
  }
  return check(SenseReason::invalid_field_in_cdb, FieldPointer{true, 1, 4});
}

PrOutcome PersistentReservations::do_register(const ItNexusId& by, const PrOutRequest& req,
                                              bool ignore_key) {
  // We advertise SIP_C = 0 and ATP_C = 0 in REPORT CAPABILITIES.
  if (req.spec_i_pt || req.all_tg_pt)
    return check(SenseReason::invalid_field_in_parameter_list, FieldPointer{false, 20, -1});
  const Registration* reg = find(by);
  PrOutcome out;
  if (!reg) {
    // SPC-4 5.13.7: an unregistered nexus must send RESERVATION KEY 0 (unless IGNORE).
    if (!ignore_key && req.key != 0) return conflict();
    if (req.service_action_key == 0) return out;  // nothing to do, generation unchanged
    regs_.push_back({by, req.service_action_key});
  } else {
    if (!ignore_key && req.key != reg->key) return conflict();
    if (req.service_action_key == 0) {
      unregister(by, out);
    } else {
      const_cast<Registration*>(reg)->key = req.service_action_key;
    }
  }
  aptpl_ = req.aptpl;
  ++generation_;
  out.state_changed = true;
  return out;
}

PrOutcome PersistentReservations::do_reserve(const ItNexusId& by, const PrOutRequest& req) {
  const Registration* reg = find(by);
  if (!reg || reg->key != req.key) return conflict();
  if (req.scope != 0) return check(SenseReason::invalid_field_in_cdb, FieldPointer{true, 2, 7});
  if (!valid_pr_type(req.type)) return check(SenseReason::invalid_field_in_cdb, kTypeField);
  if (res_) {
    // SPC-4 5.13.9: the holder reserving again with the same type and scope is a no-op.
    if (is_holder(by) && uint8_t(res_->type) == req.type) return PrOutcome{};
    return conflict();
  }
  res_ = Reservation{by, PrType(req.type)};
  PrOutcome out;
  out.state_changed = true;
  return out;
}

PrOutcome PersistentReservations::do_release(const ItNexusId& by, const PrOutRequest& req) {
  const Registration* reg = find(by);
  if (!reg || reg->key != req.key) return conflict();
  PrOutcome out;
  // SPC-4 5.13.11.2.1: no reservation, or not the holder: GOOD and nothing happens.
  if (!res_ || !is_holder(by)) return out;
  if (req.scope != 0 || uint8_t(res_->type) != req.type)
    return check(SenseReason::invalid_release_of_persistent_reservation);
  if (is_registrants_only(res_->type) || is_all_registrants(res_->type)) {
    for (const auto& r : regs_)
      if (!(r.nexus == by))
        out.unit_attentions.push_back({r.nexus, SenseReason::reservations_released});
  }
  res_.reset();
  out.state_changed = true;
  return out;
}

PrOutcome PersistentReservations::do_clear(const ItNexusId& by, uint64_t key) {
  const Registration* reg = find(by);
  if (!reg || reg->key != key) return conflict();
  PrOutcome out;
  for (const auto& r : regs_)
    if (!(r.nexus == by))
      out.unit_attentions.push_back({r.nexus, SenseReason::reservations_preempted});
  regs_.clear();
  res_.reset();
  ++generation_;
  out.state_changed = true;
  return out;
}

PrOutcome PersistentReservations::do_preempt(const ItNexusId& by, const PrOutRequest& req) {
  const Registration* reg = find(by);
  if (!reg || reg->key != req.key) return conflict();
  if (res_ && (req.scope != 0))
    return check(SenseReason::invalid_field_in_cdb, FieldPointer{true, 2, 7});
  if (res_ && !valid_pr_type(req.type)) return check(SenseReason::invalid_field_in_cdb, kTypeField);
  PrOutcome out;
  auto remove_matching = [&](uint64_t key, bool keep_self) {
    size_t removed = 0;
    std::vector<Registration> kept;
    for (auto& r : regs_) {
      if (r.key == key && !(keep_self && r.nexus == by)) {
        out.unit_attentions.push_back({r.nexus, SenseReason::registrations_preempted});
        out.preempted.push_back(r.nexus);
        ++removed;
      } else {
        kept.push_back(std::move(r));
      }
    }
    regs_ = std::move(kept);
    return removed;
  };

  if (!res_) {
    // 5.13.11.4.2: no reservation: remove the registrations with SERVICE ACTION RESERVATION KEY.
    if (req.service_action_key == 0)
      return check(SenseReason::invalid_field_in_parameter_list, FieldPointer{false, 8, -1});
    if (remove_matching(req.service_action_key, false) == 0) return conflict();
  } else if (is_all_registrants(res_->type)) {
    // 5.13.11.4.4: SARK 0 preempts the all-registrants reservation and every other registration.
    if (req.service_action_key == 0) {
      for (const auto& r : regs_)
        if (!(r.nexus == by)) {
          out.unit_attentions.push_back({r.nexus, SenseReason::registrations_preempted});
          out.preempted.push_back(r.nexus);
        }
      std::erase_if(regs_, [&](const Registration& r) { return !(r.nexus == by); });
      res_ = Reservation{by, PrType(req.type)};
    } else if (remove_matching(req.service_action_key, false) == 0) {
      return conflict();
    }
  } else if (find(res_->holder) && find(res_->holder)->key == req.service_action_key) {
    // 5.13.11.4.3: preempting the holder moves the reservation to us (the holder's key may be
    // our own: then only the type/scope change).
    const PrType old_type = res_->type;
    remove_matching(req.service_action_key, true);
    res_ = Reservation{by, PrType(req.type)};
    if (uint8_t(old_type) != req.type) {
      for (const auto& r : regs_)
        if (!(r.nexus == by))
          out.unit_attentions.push_back({r.nexus, SenseReason::reservations_released});
    }
  } else {
    if (req.service_action_key == 0)
      return check(SenseReason::invalid_field_in_parameter_list, FieldPointer{false, 8, -1});
    if (remove_matching(req.service_action_key, false) == 0) return conflict();
  }
  if (res_ && !is_all_registrants(res_->type) && !find(res_->holder)) res_.reset();
  ++generation_;
  out.state_changed = true;
  return out;
}

PrOutcome PersistentReservations::do_register_and_move(const ItNexusId& by,
                                                       const PrOutRequest& req) {
  const Registration* reg = find(by);
  if (!reg || reg->key != req.key) return conflict();
  // SPC-4 5.13.8: only the holder of a reservation that is not all-registrants may move it.
  if (!res_ || is_all_registrants(res_->type) || !(res_->holder == by)) return conflict();
  if (req.service_action_key == 0 || !req.move_to)
    return check(SenseReason::invalid_field_in_parameter_list, FieldPointer{false, 8, -1});
  if (*req.move_to == by)
    return check(SenseReason::invalid_field_in_parameter_list, FieldPointer{false, 24, -1});
  PrOutcome out;
  if (Registration* dest = const_cast<Registration*>(find(*req.move_to)))
    dest->key = req.service_action_key;
  else
    regs_.push_back({*req.move_to, req.service_action_key});
  res_->holder = *req.move_to;
  if (req.unreg) std::erase_if(regs_, [&](const Registration& r) { return r.nexus == by; });
  aptpl_ = req.aptpl;
  ++generation_;
  out.state_changed = true;
  return out;
}

std::string PersistentReservations::serialize() const {
  std::ostringstream o;
  o << "swiftness-pr 1\n"
    << "generation " << generation_ << "\naptpl " << (aptpl_ ? 1 : 0) << "\n";
  for (const auto& r : regs_)
    o << "reg " << r.key << ' ' << r.nexus.target_portal_group << ' ' << r.nexus.initiator_port
      << "\n";
  if (res_)
    o << "res " << unsigned(res_->type) << ' ' << res_->holder.target_portal_group << ' '
      << res_->holder.initiator_port << "\n";
  return o.str();
}

std::optional<PersistentReservations> PersistentReservations::parse(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != "swiftness-pr 1") return std::nullopt;
  PersistentReservations pr;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string tag;
    l >> tag;
    if (tag == "generation") {
      l >> pr.generation_;
    } else if (tag == "aptpl") {
      int v = 0;
      l >> v;
      pr.aptpl_ = v != 0;
    } else if (tag == "reg" || tag == "res") {
      uint64_t a = 0;
      ItNexusId n;
      l >> a >> n.target_portal_group >> n.initiator_port;
      if (!l || n.initiator_port.empty()) return std::nullopt;
      if (tag == "reg") {
        pr.regs_.push_back({n, a});
      } else {
        if (!valid_pr_type(uint8_t(a))) return std::nullopt;
        pr.res_ = Reservation{n, PrType(a)};
      }
    } else if (!tag.empty()) {
      return std::nullopt;
    }
  }
  return pr;
}

}  // namespace swiftness::scsi
