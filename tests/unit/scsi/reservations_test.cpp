// PERSISTENT RESERVE IN/OUT and RESERVE/RELEASE through execute(), with two I_T nexuses
// (libiscsi SCSI.ProutRegister, ProutReserve, PrinReadKeys, Reserve6 ...).
#include <filesystem>

#include "tests/unit/scsi/harness.hpp"

namespace swiftness::scsi::test {
namespace {

std::vector<uint8_t> prout_cdb(uint8_t sa, uint8_t type = 0) {
  return {0x5f, sa, type, 0, 0, 0, 0, 0, 24, 0};
}
std::vector<uint8_t> prout_params(uint64_t key, uint64_t sa_key, bool aptpl = false) {
  std::vector<uint8_t> p(24, 0);
  for (int i = 0; i < 8; ++i)
    p[i] = uint8_t(key >> (56 - 8 * i));
  for (int i = 0; i < 8; ++i)
    p[8 + i] = uint8_t(sa_key >> (56 - 8 * i));
  p[20] = aptpl ? 1 : 0;
  return p;
}
Outcome prout(Harness& h, std::shared_ptr<Nexus> n, uint8_t sa, uint64_t key, uint64_t sa_key,
              uint8_t type = 0, bool aptpl = false) {
  return h.run(prout_cdb(sa, type), 24, prout_params(key, sa_key, aptpl), n);
}
Outcome prin(Harness& h, std::shared_ptr<Nexus> n, uint8_t sa) {
  return h.run({0x5e, sa, 0, 0, 0, 0, 0, 0x10, 0, 0}, 4096, {}, n);
}

TEST(ProutRegister, Simple) {
  Harness h;
  ASSERT_TRUE(IsGood(prout(h, h.a, 0, 0, 0x1234)));
  // Registering again with a wrong RESERVATION KEY is a conflict.
  EXPECT_TRUE(IsReservationConflict(prout(h, h.a, 0, 0, 0x9999)));
  auto keys = prin(h, h.a, 0);
  ASSERT_TRUE(IsGood(keys));
  EXPECT_EQ(keys.data[3], 1);  // PRGENERATION
  EXPECT_EQ(keys.data[7], 8);  // one key
  EXPECT_EQ(keys.data[14] << 8 | keys.data[15], 0x1234);
  // Unregister.
  ASSERT_TRUE(IsGood(prout(h, h.a, 0, 0x1234, 0)));
  EXPECT_EQ(prin(h, h.a, 0).data[7], 0);
}

TEST(ProutReserve, WriteExclusiveAccess) {
  Harness h;
  ASSERT_TRUE(IsGood(prout(h, h.a, 6, 0, 0xa)));
  ASSERT_TRUE(IsGood(prout(h, h.b, 6, 0, 0xb)));
  ASSERT_TRUE(IsGood(prout(h, h.a, 1, 0xa, 0, 1)));  // WRITE EXCLUSIVE
  std::vector<uint8_t> blk(512, 1);
  EXPECT_TRUE(IsGood(h.run(write10(0, 1), 512, blk, h.a)));
  EXPECT_TRUE(IsGood(h.run(read10(0, 1), 512, {}, h.b)));
  EXPECT_TRUE(IsReservationConflict(h.run(write10(0, 1), 512, blk, h.b)));
  auto rr = prin(h, h.b, 1);
  EXPECT_EQ(rr.data[7], 16);
  EXPECT_EQ(rr.data[15], 0xa);
  EXPECT_EQ(rr.data[21], 1);
  // The other nexus cannot release it; the holder can.
  EXPECT_TRUE(IsGood(prout(h, h.b, 2, 0xb, 0, 1)));
  EXPECT_TRUE(IsReservationConflict(h.run(write10(0, 1), 512, blk, h.b)));
  EXPECT_TRUE(
      HasCheckCondition(prout(h, h.a, 2, 0xa, 0, 3), SenseKey::illegal_request, 0x26, 0x04));
  EXPECT_TRUE(IsGood(prout(h, h.a, 2, 0xa, 0, 1)));
  EXPECT_TRUE(IsGood(h.run(write10(0, 1), 512, blk, h.b)));
}

TEST(ProutReserve, ExclusiveAccessBlocksReads) {
  Harness h;
  ASSERT_TRUE(IsGood(prout(h, h.a, 6, 0, 0xa)));
  ASSERT_TRUE(IsGood(prout(h, h.a, 1, 0xa, 0, 3)));
  EXPECT_TRUE(IsReservationConflict(h.run(read10(0, 1), 512, {}, h.b)));
  EXPECT_TRUE(IsGood(h.run({0x12, 0, 0, 0, 36, 0}, 36, {}, h.b)));  // INQUIRY allowed
  EXPECT_TRUE(IsGood(h.run({0, 0, 0, 0, 0, 0}, 0, {}, h.b)));       // TUR allowed
}

TEST(ProutPreempt, RemovesOtherRegistrationAndTakesReservation) {
  Harness h;
  ASSERT_TRUE(IsGood(prout(h, h.a, 6, 0, 0xa)));
  ASSERT_TRUE(IsGood(prout(h, h.b, 6, 0, 0xb)));
  ASSERT_TRUE(IsGood(prout(h, h.a, 1, 0xa, 0, 1)));
  ASSERT_TRUE(IsGood(prout(h, h.b, 4, 0xb, 0xa, 1)));
  auto rr = prin(h, h.b, 1);
  EXPECT_EQ(rr.data[15], 0xb);
  EXPECT_TRUE(HasCheckCondition(h.run({0, 0, 0, 0, 0, 0}, 0, {}, h.a), SenseKey::unit_attention,
                                0x2a, 0x05));
  EXPECT_EQ(prin(h, h.a, 0).data[7], 8);  // only b's key remains
}

TEST(ProutClear, Simple) {
  Harness h;
  ASSERT_TRUE(IsGood(prout(h, h.a, 6, 0, 0xa)));
  ASSERT_TRUE(IsGood(prout(h, h.b, 6, 0, 0xb)));
  ASSERT_TRUE(IsGood(prout(h, h.a, 1, 0xa, 0, 5)));
  ASSERT_TRUE(IsGood(prout(h, h.a, 3, 0xa, 0)));
  EXPECT_EQ(prin(h, h.a, 0).data[7], 0);
  EXPECT_EQ(prin(h, h.a, 1).data[7], 0);
  EXPECT_TRUE(HasCheckCondition(h.run({0, 0, 0, 0, 0, 0}, 0, {}, h.b), SenseKey::unit_attention,
                                0x2a, 0x03));
}

TEST(PrinServiceactionRange, Range) {
  Harness h;
  for (uint8_t sa = 4; sa < 0x20; ++sa)
    EXPECT_TRUE(IsInvalidFieldInCdb(prin(h, h.a, sa))) << int(sa);
  for (uint8_t sa = 8; sa < 0x20; ++sa)
    EXPECT_TRUE(IsInvalidFieldInCdb(prout(h, h.a, sa, 0, 1))) << int(sa);
}

TEST(PrinReportCapabilities, Simple) {
  Harness h;
  auto o = prin(h, h.a, 2);
  ASSERT_TRUE(IsGood(o));
  EXPECT_EQ(o.data, (std::vector<uint8_t>{0, 8, 0x11, 0x90, 0xea, 0x01, 0, 0}));
}

TEST(PrinReadFullStatus, ListsTransportIds) {
  Harness h;
  ASSERT_TRUE(IsGood(prout(h, h.a, 6, 0, 0xa)));
  ASSERT_TRUE(IsGood(prout(h, h.a, 1, 0xa, 0, 1)));
  auto o = prin(h, h.a, 3);
  ASSERT_TRUE(IsGood(o));
  EXPECT_EQ(o.data[8 + 7], 0xa);
  EXPECT_EQ(o.data[8 + 12], 0x01);  // R_HOLDER
  EXPECT_EQ(o.data[8 + 24], 0x45);  // iSCSI TransportID, format 01b
  std::string name(reinterpret_cast<const char*>(&o.data[8 + 28]));
  EXPECT_EQ(name, "iqn.2026-11.org.test:alpha,i,0x400001370001");
}

TEST(ProutRegisterAndMove, MovesReservation) {
  Harness h;
  ASSERT_TRUE(IsGood(prout(h, h.a, 6, 0, 0xa)));
  ASSERT_TRUE(IsGood(prout(h, h.a, 1, 0xa, 0, 1)));
  std::string tid_name = "iqn.2026-11.org.test:beta,i,0x400001370002";
  std::vector<uint8_t> tid = {0x45, 0, 0, 0};
  tid.insert(tid.end(), tid_name.begin(), tid_name.end());
  tid.resize(((tid.size() + 1 + 3) & ~size_t(3)), 0);
  tid[3] = uint8_t(tid.size() - 4);
  std::vector<uint8_t> p = prout_params(0xa, 0xb);
  p[17] = 0x02;  // UNREG
  p[19] = 1;
  p[23] = uint8_t(tid.size());
  p.insert(p.end(), tid.begin(), tid.end());
  ASSERT_TRUE(
      IsGood(h.run({0x5f, 7, 1, 0, 0, 0, 0, 0, uint8_t(p.size()), 0}, uint32_t(p.size()), p)));
  EXPECT_TRUE(IsReservationConflict(h.run(write10(0, 1), 512, std::vector<uint8_t>(512), h.a)));
  EXPECT_TRUE(IsGood(h.run(write10(0, 1), 512, std::vector<uint8_t>(512), h.b)));
}

TEST(ProutRegister, AptplSurvivesRestart) {
  const std::string dir = make_temp_dir();
  ASSERT_FALSE(dir.empty());
  {
    Harness h(Harness::Options{.state_dir = dir});
    ASSERT_TRUE(IsGood(prout(h, h.a, 0, 0, 0xabc, 0, /*aptpl=*/true)));
    ASSERT_TRUE(IsGood(prout(h, h.a, 1, 0xabc, 0, 5)));
    h.start();  // a daemon restart over the same device and state dir
    auto rr = prin(h, h.b, 1);
    EXPECT_EQ(rr.data[15], 0xbc);
    EXPECT_EQ(rr.data[21], 5);
    EXPECT_TRUE(IsReservationConflict(h.run(write10(0, 1), 512, std::vector<uint8_t>(512), h.b)));
    EXPECT_TRUE(IsGood(h.run(write10(0, 1), 512, std::vector<uint8_t>(512), h.a)));
    // Without APTPL the state is dropped from disk.
    ASSERT_TRUE(IsGood(prout(h, h.a, 0, 0xabc, 0x1, 0, false)));
    h.start();
    EXPECT_EQ(prin(h, h.a, 0).data[7], 0);
  }
  std::filesystem::remove_all(dir);
}

TEST(Reserve6, TwoInitiators) {
  Harness h;
  ASSERT_TRUE(IsGood(h.run({0x16, 0, 0, 0, 0, 0})));
  EXPECT_TRUE(IsReservationConflict(h.run({0x16, 0, 0, 0, 0, 0}, 0, {}, h.b)));
  EXPECT_TRUE(IsReservationConflict(h.run(read10(0, 1), 512, {}, h.b)));
  EXPECT_TRUE(IsGood(h.run({0x12, 0, 0, 0, 36, 0}, 36, {}, h.b)));
  EXPECT_TRUE(IsGood(h.run({0x17, 0, 0, 0, 0, 0}, 0, {}, h.b)));  // no effect
  EXPECT_TRUE(IsReservationConflict(h.run(read10(0, 1), 512, {}, h.b)));
  ASSERT_TRUE(IsGood(h.run({0x17, 0, 0, 0, 0, 0})));
  EXPECT_TRUE(IsGood(h.run(read10(0, 1), 512, {}, h.b)));
}

TEST(Reserve6, LunResetAndNexusLossRelease) {
  Harness h;
  ASSERT_TRUE(IsGood(h.run({0x16, 0, 0, 0, 0, 0})));
  EXPECT_EQ(h.server->logical_unit_reset(*h.b, 0), TmfResponse::function_complete);
  h.clear_ua(h.b);
  EXPECT_TRUE(IsGood(h.run({0x16, 0, 0, 0, 0, 0}, 0, {}, h.b)));
  h.server->nexus_removed(*h.b);
  h.clear_ua(h.a);
  EXPECT_TRUE(IsGood(h.run({0x16, 0, 0, 0, 0, 0})));
}

}  // namespace
}  // namespace swiftness::scsi::test

namespace swiftness::scsi::test {
namespace {

TEST(Reserve6, LogoutReleasesEvenIfThePortLogsInAgain) {
  Harness h;
  ASSERT_TRUE(IsGood(h.run({0x16, 0, 0, 0, 0, 0})));
  // The same initiator port logs in again (same nexus id) before the old nexus is torn down.
  auto again = make_nexus(h.a->id, h.a->initiator_name, h.a->isid[5]);
  h.server->nexus_added(again);
  h.clear_ua(again);
  h.server->nexus_removed(*h.a);
  EXPECT_TRUE(IsGood(h.run({0x16, 0, 0, 0, 0, 0}, 0, {}, h.b)));
  // The new nexus is still known: it receives unit attentions.
  EXPECT_EQ(h.server->logical_unit_reset(*h.b, 0), TmfResponse::function_complete);
  EXPECT_TRUE(HasCheckCondition(h.run({0, 0, 0, 0, 0, 0}, 0, {}, again), SenseKey::unit_attention,
                                0x29, 0));
}

}  // namespace
}  // namespace swiftness::scsi::test
