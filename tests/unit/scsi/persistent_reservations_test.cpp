// The reservation state machine alone (SPC-4 5.13), no I/O.
#include "target/scsi/persistent_reservations.hpp"

#include <gtest/gtest.h>

namespace swiftness::scsi {
namespace {

const ItNexusId kA{"iqn.a,i,0x01", 1};
const ItNexusId kB{"iqn.b,i,0x02", 1};
const ItNexusId kC{"iqn.c,i,0x03", 1};

PrOutRequest req(PrOutAction a, uint64_t key, uint64_t sak = 0, uint8_t type = 0) {
  PrOutRequest r{a};
  r.key = key;
  r.service_action_key = sak;
  r.type = type;
  return r;
}
using K = PrOutcome::Kind;

TEST(PersistentReservations, RegisterReserveRelease) {
  PersistentReservations pr;
  EXPECT_EQ(pr.execute(kA, req(PrOutAction::register_key, 0, 1)).kind, K::good);
  EXPECT_EQ(pr.generation(), 1u);
  EXPECT_EQ(pr.execute(kA, req(PrOutAction::reserve, 1, 0, 1)).kind, K::good);
  EXPECT_EQ(pr.generation(), 1u);  // RESERVE does not bump PRGENERATION
  EXPECT_TRUE(pr.is_holder(kA));
  EXPECT_EQ(pr.execute(kA, req(PrOutAction::reserve, 1, 0, 1)).kind, K::good);  // same type: ok
  EXPECT_EQ(pr.execute(kA, req(PrOutAction::reserve, 1, 0, 3)).kind, K::conflict);
  EXPECT_EQ(pr.execute(kA, req(PrOutAction::reserve, 1, 0, 2)).kind, K::check_condition);
  EXPECT_EQ(pr.execute(kA, req(PrOutAction::release, 1, 0, 1)).kind, K::good);
  EXPECT_FALSE(pr.reservation());
}

TEST(PersistentReservations, InvalidTypeIsInvalidField) {
  PersistentReservations pr;
  pr.execute(kA, req(PrOutAction::register_key, 0, 1));
  auto o = pr.execute(kA, req(PrOutAction::reserve, 1, 0, 2));
  EXPECT_EQ(o.kind, K::check_condition);
  EXPECT_EQ(o.sense->reason, SenseReason::invalid_field_in_cdb);
}

TEST(PersistentReservations, AccessTablePerType) {
  struct Row {
    uint8_t type;
    bool reg_read, reg_write, other_read, other_write;  // conflict?
  } rows[] = {
      {1, false, true, false, true}, {3, true, true, true, true},    {5, false, false, false, true},
      {6, false, false, true, true}, {7, false, false, false, true}, {8, false, false, true, true},
  };
  for (const auto& r : rows) {
    PersistentReservations pr;
    pr.execute(kA, req(PrOutAction::register_key, 0, 1));
    pr.execute(kB, req(PrOutAction::register_key, 0, 2));
    ASSERT_EQ(pr.execute(kA, req(PrOutAction::reserve, 1, 0, r.type)).kind, K::good);
    EXPECT_FALSE(pr.conflicts(kA, PrAccess::write)) << int(r.type);
    EXPECT_EQ(pr.conflicts(kB, PrAccess::read), r.reg_read) << int(r.type);
    EXPECT_EQ(pr.conflicts(kB, PrAccess::write), r.reg_write) << int(r.type);
    EXPECT_EQ(pr.conflicts(kC, PrAccess::read), r.other_read) << int(r.type);
    EXPECT_EQ(pr.conflicts(kC, PrAccess::write), r.other_write) << int(r.type);
    EXPECT_FALSE(pr.conflicts(kC, PrAccess::allowed));
  }
}

TEST(PersistentReservations, OwnershipWhenHolderUnregisters) {
  // libiscsi ProutReserve.Ownership*: all-registrants reservations stay while anyone is
  // registered; others go away with the holder.
  for (uint8_t type : {1, 3, 5, 6, 7, 8}) {
    PersistentReservations pr;
    pr.execute(kA, req(PrOutAction::register_and_ignore, 0, 1));
    pr.execute(kB, req(PrOutAction::register_and_ignore, 0, 2));
    pr.execute(kA, req(PrOutAction::reserve, 1, 0, type));
    auto o = pr.execute(kA, req(PrOutAction::register_key, 1, 0));
    ASSERT_EQ(o.kind, K::good);
    const bool shared = type == 7 || type == 8;
    EXPECT_EQ(pr.reservation().has_value(), shared) << int(type);
    if (shared) {
      EXPECT_EQ(pr.execute(kB, req(PrOutAction::release, 2, 0, type)).kind, K::good);
      EXPECT_FALSE(pr.reservation());
    }
    // Registrants-only release tells the remaining registrants.
    if (type == 5 || type == 6) {
      ASSERT_EQ(o.unit_attentions.size(), 1u);
      EXPECT_EQ(o.unit_attentions[0].first, kB);
      EXPECT_EQ(o.unit_attentions[0].second, SenseReason::reservations_released);
    }
  }
}

TEST(PersistentReservations, PreemptWithoutReservation) {
  PersistentReservations pr;
  pr.execute(kA, req(PrOutAction::register_key, 0, 1));
  pr.execute(kB, req(PrOutAction::register_key, 0, 2));
  EXPECT_EQ(pr.execute(kA, req(PrOutAction::preempt, 1, 9)).kind, K::conflict);
  auto o = pr.execute(kA, req(PrOutAction::preempt, 1, 2));
  EXPECT_EQ(o.kind, K::good);
  EXPECT_FALSE(pr.is_registered(kB));
  ASSERT_EQ(o.unit_attentions.size(), 1u);
  EXPECT_EQ(o.unit_attentions[0].second, SenseReason::registrations_preempted);
}

TEST(PersistentReservations, PreemptAllRegistrantsWithZeroKey) {
  PersistentReservations pr;
  pr.execute(kA, req(PrOutAction::register_key, 0, 1));
  pr.execute(kB, req(PrOutAction::register_key, 0, 2));
  pr.execute(kC, req(PrOutAction::register_key, 0, 3));
  pr.execute(kB, req(PrOutAction::reserve, 2, 0, 7));
  auto o = pr.execute(kA, req(PrOutAction::preempt, 1, 0, 1));
  EXPECT_EQ(o.kind, K::good);
  EXPECT_EQ(pr.registrations().size(), 1u);
  ASSERT_TRUE(pr.reservation());
  EXPECT_EQ(pr.reservation()->type, PrType::write_exclusive);
  EXPECT_TRUE(pr.is_holder(kA));
  EXPECT_EQ(o.unit_attentions.size(), 2u);
}

TEST(PersistentReservations, UnregisteredCannotActWithKey) {
  PersistentReservations pr;
  EXPECT_EQ(pr.execute(kA, req(PrOutAction::register_key, 5, 1)).kind, K::conflict);
  EXPECT_EQ(pr.execute(kA, req(PrOutAction::register_key, 0, 0)).kind, K::good);
  EXPECT_FALSE(pr.is_registered(kA));
  EXPECT_EQ(pr.execute(kA, req(PrOutAction::reserve, 0, 0, 1)).kind, K::conflict);
  EXPECT_EQ(pr.execute(kA, req(PrOutAction::clear, 0)).kind, K::conflict);
  EXPECT_EQ(pr.execute(kA, req(PrOutAction::release, 0, 0, 1)).kind, K::conflict);
}

TEST(PersistentReservations, SerializeRoundTrip) {
  PersistentReservations pr;
  PrOutRequest r = req(PrOutAction::register_key, 0, 0xdeadbeef);
  r.aptpl = true;
  pr.execute(kA, r);
  r.service_action_key = 7;
  pr.execute(kB, r);  // APTPL is what the last REGISTER said
  pr.execute(kA, req(PrOutAction::reserve, 0xdeadbeef, 0, 6));
  auto back = PersistentReservations::parse(pr.serialize());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->generation(), pr.generation());
  EXPECT_TRUE(back->aptpl());
  EXPECT_EQ(back->registrations().size(), 2u);
  EXPECT_TRUE(back->is_holder(kA));
  EXPECT_EQ(back->reservation()->type, PrType::exclusive_access_registrants_only);
  EXPECT_FALSE(PersistentReservations::parse("garbage"));
}

}  // namespace
}  // namespace swiftness::scsi
