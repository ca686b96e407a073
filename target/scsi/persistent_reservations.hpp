// SPC-4 5.13 persistent reservations as a pure state machine: no I/O, no locking (the logical
// unit's mutex guards it), so every transition is unit-testable. Registrations are per I_T
// nexus, identified by the initiator port name ("iqn,i,0x<ISID>") and the target portal group,
// which is what survives a reconnect and a daemon restart (APTPL).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "target/scsi/sense.hpp"

namespace swiftness::scsi {

struct ItNexusId {
  std::string initiator_port;  // Nexus::initiator_port_name()
  uint16_t target_portal_group = 1;
  friend bool operator==(const ItNexusId&, const ItNexusId&) = default;
};

enum class PrType : uint8_t {
  write_exclusive = 1,
  exclusive_access = 3,
  write_exclusive_registrants_only = 5,
  exclusive_access_registrants_only = 6,
  write_exclusive_all_registrants = 7,
  exclusive_access_all_registrants = 8,
};
bool valid_pr_type(uint8_t t);

// How a command is affected by a persistent reservation (SPC-4 5.13.1, SBC-3 4.17 tables).
enum class PrAccess : uint8_t { allowed, read, write };

enum class PrOutAction : uint8_t {
  register_key = 0,
  reserve = 1,
  release = 2,
  clear = 3,
  preempt = 4,
  preempt_and_abort = 5,
  register_and_ignore = 6,
  register_and_move = 7,
};

struct PrOutRequest {
  PrOutAction action;
  uint8_t scope = 0;
  uint8_t type = 0;
  uint64_t key = 0;
  uint64_t service_action_key = 0;
  bool aptpl = false;
  bool spec_i_pt = false;
  bool all_tg_pt = false;
  bool unreg = false;                               // REGISTER AND MOVE
  std::optional<ItNexusId> move_to = std::nullopt;  // REGISTER AND MOVE destination
};

// What a PR OUT produced: a status (GOOD, RESERVATION CONFLICT, or CHECK CONDITION with sense)
// and unit attentions to establish for other nexuses.
struct PrOutcome {
  enum class Kind { good, conflict, check_condition } kind = Kind::good;
  std::optional<SenseInfo> sense = std::nullopt;
  std::vector<std::pair<ItNexusId, SenseReason>> unit_attentions = {};
  bool state_changed = false;  // persist if APTPL
  // Nexuses whose registrations a PREEMPT removed: PREEMPT AND ABORT aborts their tasks.
  std::vector<ItNexusId> preempted = {};
};

class PersistentReservations {
 public:
  struct Registration {
    ItNexusId nexus;
    uint64_t key;
  };
  struct Reservation {
    ItNexusId holder;  // for all-registrants types: the nexus that reserved (any registrant holds)
    PrType type;
  };

  PrOutcome execute(const ItNexusId& by, const PrOutRequest& req);

  // RESERVATION CONFLICT check for a command from `by` (SPC-4 5.13.1).
  bool conflicts(const ItNexusId& by, PrAccess access) const;

  bool is_registered(const ItNexusId& n) const { return find(n) != nullptr; }
  bool is_holder(const ItNexusId& n) const;
  const std::vector<Registration>& registrations() const { return regs_; }
  const std::optional<Reservation>& reservation() const { return res_; }
  uint32_t generation() const { return generation_; }
  bool aptpl() const { return aptpl_; }

  // APTPL state as text (one record per line) and back.
  std::string serialize() const;
  static std::optional<PersistentReservations> parse(const std::string& text);

 private:
  const Registration* find(const ItNexusId& n) const;
  bool all_registrants() const;
  void unregister(const ItNexusId& n, PrOutcome& out);
  PrOutcome do_register(const ItNexusId& by, const PrOutRequest& req, bool ignore_key);
  PrOutcome do_reserve(const ItNexusId& by, const PrOutRequest& req);
  PrOutcome do_release(const ItNexusId& by, const PrOutRequest& req);
  PrOutcome do_clear(const ItNexusId& by, uint64_t key);
  PrOutcome do_preempt(const ItNexusId& by, const PrOutRequest& req);
  PrOutcome do_register_and_move(const ItNexusId& by, const PrOutRequest& req);

  std::vector<Registration> regs_;
  std::optional<Reservation> res_;
  uint32_t generation_ = 0;
  bool aptpl_ = false;
};

}  // namespace swiftness::scsi
