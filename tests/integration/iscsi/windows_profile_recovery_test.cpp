// The Windows-profile tests of error recovery and reservations (fixture:
// windows_profile_fixture.hpp): LUN RESET with commands in flight, session reinstatement after a
// dropped or closed connection, FUA and SPC-2 RESERVE/RELEASE, and the persistent-reservation
// sequence of failover-cluster validation. Each runs against a file LUN and, as swift.*, a
// Swift-backed one.
#include <gtest/gtest.h>

#include "tests/integration/iscsi/windows_profile_fixture.hpp"

using namespace swiftness::testing;
using namespace swiftness::testing::windows_profile;

namespace {

TEST_F(WindowsProfile, LunResetWithCommandsInFlight) {
  start();
  auto c = session();
  clear_ua(*c);
  // Windows sends LUN RESET after an I/O timeout with commands still outstanding.
  std::vector<uint32_t> itts;
  for (uint32_t i = 0; i < 8; ++i)
    itts.push_back(c->submit(cdb10(0x2a, 2000 + i * 512, 512), Dir::write, 256 << 10,
                             pattern(256 << 10, 40 + i)));
  int resp = c->task_management(5, 0);  // LOGICAL UNIT RESET
  EXPECT_EQ(resp, 0) << "Function complete";
  // Tasks either completed before the TMF response or are aborted and never answered.
  for (auto itt : itts)
    if (!c->pending(itt)) c->wait(itt);
  for (auto itt : itts)
    c->forget(itt);
  auto uas = clear_ua(*c);
  ASSERT_FALSE(uas.empty()) << "a LUN reset leaves a unit attention";
  EXPECT_EQ(uas[0].substr(0, 21), "status 02 sense 6/29/") << uas[0];
  auto r = read10(*c, 2000, 4096);
  EXPECT_TRUE(r.good()) << sense_of(r);
  // A reset of a LUN that does not exist.
  EXPECT_EQ(c->task_management(5, 7), 2) << "LUN does not exist (RFC 7143 §11.6.1)";
  EXPECT_TRUE(c->logout());
}

TEST_F(WindowsProfile, ReloginWithTheSameIsidAfterADroppedConnection) {
  start();
  auto old = session("win-node1", 0);
  clear_ua(*old);
  auto before = pattern(256 << 10, 50);
  ASSERT_TRUE(write10(*old, 6000, before).good());
  // A cluster node holding a persistent reservation (registered, WR_EX_RO).
  constexpr uint64_t kKey = 0xc1c1c1c1;
  std::vector<uint8_t> reg(24, 0), rsv(24, 0);
  MsInitiator::put64(reg, 8, kKey);
  MsInitiator::put64(rsv, 0, kKey);
  ASSERT_TRUE(old->command({0x5f, 0, 0, 0, 0, 0, 0, 0, 24, 0}, Dir::write, 24, reg).good());
  ASSERT_TRUE(old->command({0x5f, 1, 5, 0, 0, 0, 0, 0, 24, 0}, Dir::write, 24, rsv).good());
  // In flight when the connection drops: a 256 KiB write whose R2T data never comes, and a
  // write waiting behind a CmdSN gap. Neither may ever reach the disk.
  uint32_t half =
      old->submit(cdb10(0x2a, 6000, 512), Dir::write, 256 << 10, pattern(256 << 10, 51));
  old->set_cmd_sn(old->cmd_sn() + 1);
  old->submit(cdb10(0x2a, 6000, 8), Dir::write, 4096, pattern(4096, 52));
  ASSERT_TRUE(old->pending(half));
  // Windows gives up on the connection; the target has not noticed (no FIN yet).
  auto fresh = session("win-node1", 0);  // same name and ISID, TSIH 0: reinstatement
  // The target closes the old connection (RFC 7143 §6.3.5).
  uint8_t byte;
  bool eof = false;
  for (int i = 0; i < 50 && !eof; ++i) {
    while (old->raw().read_exact(&byte, 1, 100)) {
    }
    eof = old->raw().saw_eof();
  }
  EXPECT_TRUE(eof) << "the old connection of a reinstated session stays open";
  // The new session works, with ITTs and CmdSNs starting over (the old tasks used the same
  // ITTs), and the old tasks left nothing behind.
  clear_ua(*fresh);
  auto r = read10(*fresh, 6000, 256 << 10);
  ASSERT_TRUE(r.good()) << sense_of(r);
  EXPECT_TRUE(r.data == before) << "data of a task of the dropped connection reached the disk";
  // Same initiator port, same I_T nexus: the registration and the reservation survive the
  // reinstatement (SPC-4 5.13.1), so the node keeps writing.
  auto keys = fresh->command({0x5e, 0, 0, 0, 0, 0, 0, 0, 64, 0}, Dir::read, 64);
  ASSERT_TRUE(keys.good()) << sense_of(keys);
  ASSERT_EQ(keys.data.size(), 16u) << "one registration";
  EXPECT_EQ(keys.data[15], 0xc1);
  auto holder = fresh->command({0x5e, 1, 0, 0, 0, 0, 0, 0, 64, 0}, Dir::read, 64);
  ASSERT_EQ(holder.data.size(), 24u) << "the reservation is still held";
  EXPECT_EQ(holder.data[21], 5);
  // Windows re-sends the lost write on the new session; it must not meet a leftover task.
  auto again = pattern(256 << 10, 53);
  ASSERT_TRUE(write10(*fresh, 6000, again).good());
  EXPECT_TRUE(read10(*fresh, 6000, 256 << 10).data == again);
  EXPECT_TRUE(fresh->rejects().empty());
  // A bystander cannot write while the reinstated node holds the reservation.
  auto x = session("bystander", 0);
  clear_ua(*x);
  EXPECT_EQ(write10(*x, 6000, pattern(512, 54)).status, 0x18);
  std::vector<uint8_t> unreg(24, 0);
  MsInitiator::put64(unreg, 0, kKey);
  EXPECT_TRUE(fresh->command({0x5f, 0, 0, 0, 0, 0, 0, 0, 24, 0}, Dir::write, 24, unreg).good());
  EXPECT_TRUE(write10(*x, 6000, pattern(512, 54)).good()) << "unregistering released it";
  EXPECT_TRUE(x->logout());
  EXPECT_TRUE(fresh->logout());
}

TEST_F(WindowsProfile, ForceUnitAccessWritesAndSpc2ReserveRelease) {
  start();
  auto a = session("win-node1", 0);
  auto b = session("win-node2", 0);
  clear_ua(*a);
  clear_ua(*b);
  // disk.sys sets FUA on write-through I/O when the mode header has DPOFUA (the note §5.8).
  auto d = pattern(8192, 70);
  auto w = a->command(cdb10(0x2a, 700, 16, 0x08), Dir::write, 8192, d);
  EXPECT_TRUE(w.good()) << "WRITE(10) FUA: " << sense_of(w);
  EXPECT_TRUE(read10(*b, 700, 8192).data == d);
  // SPC-2 RESERVE(6)/RELEASE(6), still used by some Windows tooling (the note A.7, SPDK #1414).
  EXPECT_TRUE(a->command({0x16, 0, 0, 0, 0, 0}, Dir::none, 0).good());
  auto conflict = read10(*b, 700, 512);
  EXPECT_EQ(conflict.status, 0x18) << "RESERVE(6) excludes other nexuses: " << sense_of(conflict);
  EXPECT_TRUE(read10(*a, 700, 512).good());
  EXPECT_TRUE(a->command({0x17, 0, 0, 0, 0, 0}, Dir::none, 0).good());
  EXPECT_TRUE(read10(*b, 700, 512).good()) << "released";
  // A logout releases a RESERVE(6) (SPC-2 5.5.1).
  EXPECT_TRUE(a->command({0x16, 0, 0, 0, 0, 0}, Dir::none, 0).good());
  EXPECT_TRUE(a->logout());
  EXPECT_TRUE(read10(*b, 700, 512).good()) << "the reservation of a logged-out nexus";
  EXPECT_TRUE(b->logout());
}

TEST_F(WindowsProfile, ReloginAfterWindowsClosedTheConnectionMidWrite) {
  start();
  auto old = session("win-node1", 3);
  clear_ua(*old);
  auto before = pattern(128 << 10, 90);
  ASSERT_TRUE(write10(*old, 7000, before).good());
  // Windows closes the socket (FIN) while a 128 KiB write waits for its R2T data.
  old->submit(cdb10(0x2a, 7000, 256), Dir::write, 128 << 10, pattern(128 << 10, 91));
  old->raw().close_now();
  // The re-login with the same ISID may race the target noticing the FIN: either way it works.
  auto fresh = session("win-node1", 3);
  clear_ua(*fresh);
  auto r = read10(*fresh, 7000, 128 << 10);
  ASSERT_TRUE(r.good()) << sense_of(r);
  EXPECT_TRUE(r.data == before) << "half a write of a closed connection reached the disk";
  EXPECT_TRUE(fresh->logout());
}

// ---------------------------------------------------------------------------------------------
// Failover cluster validation (the note A.5): two nodes, a third nexus that never registers.

std::vector<uint8_t> prout(uint64_t key, uint64_t sa_key) {
  std::vector<uint8_t> p(24, 0);
  MsInitiator::put64(p, 0, key);
  MsInitiator::put64(p, 8, sa_key);
  return p;
}
std::vector<uint8_t> prout_cdb(uint8_t sa, uint8_t type) {
  return {0x5f, sa, type, 0, 0, 0, 0, 0, 24, 0};
}

TEST_F(WindowsProfile, FailoverClusterPersistentReservationSequence) {
  start();
  constexpr uint64_t kA = 0x1111000000000001, kB = 0x2222000000000002;
  constexpr uint8_t kWrExRo = 5;  // Write Exclusive - Registrants Only
  auto a = session("cluster-node-a", 0);
  auto b = session("cluster-node-b", 0);  // same ISID, other name: another I_T nexus
  auto x = session("bystander", 0);
  for (auto* n : {a.get(), b.get(), x.get()})
    clear_ua(*n);

  auto out = [](MsInitiator& n, uint8_t sa, uint8_t type, uint64_t key, uint64_t sa_key) {
    return n.command(prout_cdb(sa, type), Dir::write, 24, prout(key, sa_key));
  };
  auto in = [](MsInitiator& n, uint8_t sa) {
    return n.command({0x5e, sa, 0, 0, 0, 0, 0, 0x10, 0, 0}, Dir::read, 4096);
  };
  auto be32 = [](const std::vector<uint8_t>& v, size_t o) {
    return uint32_t(v[o]) << 24 | uint32_t(v[o + 1]) << 16 | uint32_t(v[o + 2]) << 8 | v[o + 3];
  };
  auto be64 = [&](const std::vector<uint8_t>& v, size_t o) {
    return uint64_t(be32(v, o)) << 32 | be32(v, o + 4);
  };
  auto keys_of = [&](const ScsiResult& r) {
    std::vector<uint64_t> k;
    for (size_t o = 8; o + 8 <= 8 + be32(r.data, 4) && o + 8 <= r.data.size(); o += 8)
      k.push_back(be64(r.data, o));
    return k;
  };

  auto caps = a->command({0x5e, 2, 0, 0, 0, 0, 0, 0, 8, 0}, Dir::read, 8);
  ASSERT_TRUE(caps.good()) << sense_of(caps);
  ASSERT_EQ(caps.data.size(), 8u);
  EXPECT_TRUE(caps.data[3] & 0x80) << "TMV";
  EXPECT_TRUE(caps.data[4] & 0x20) << "WR_EX_RO in the type mask";

  auto k0 = in(*a, 0);
  ASSERT_TRUE(k0.good());
  uint32_t gen = be32(k0.data, 0);
  EXPECT_TRUE(keys_of(k0).empty());

  // Register both nodes (REGISTER, and REGISTER AND IGNORE EXISTING KEY as the cluster does).
  ASSERT_TRUE(out(*a, 0x00, 0, 0, kA).good());
  ASSERT_TRUE(out(*b, 0x06, 0, 0, kB).good());
  auto k1 = in(*b, 0);
  EXPECT_EQ(be32(k1.data, 0), gen + 2) << "PRGENERATION counts registrations";
  EXPECT_EQ(keys_of(k1), (std::vector<uint64_t>{kA, kB}));

  // Node A reserves; node B reads the reservation.
  auto res = out(*a, 0x01, kWrExRo, kA, 0);
  ASSERT_TRUE(res.good()) << sense_of(res);
  auto rr = in(*b, 1);
  ASSERT_TRUE(rr.good());
  ASSERT_EQ(be32(rr.data, 4), 16u) << "one reservation";
  EXPECT_EQ(be64(rr.data, 8), kA);
  EXPECT_EQ(rr.data[21], kWrExRo) << "scope 0, type 5";
  EXPECT_EQ(be32(rr.data, 0), gen + 2) << "RESERVE does not change PRGENERATION";

  // Registrants write; a non-registered nexus reads but gets RESERVATION CONFLICT on write.
  auto d = pattern(4096, 60);
  EXPECT_TRUE(write10(*a, 100, d).good());
  EXPECT_TRUE(write10(*b, 100, d).good());
  EXPECT_TRUE(read10(*x, 100, 4096).good());
  auto conflict = write10(*x, 100, d);
  EXPECT_EQ(conflict.status, 0x18) << "RESERVATION CONFLICT, " << sense_of(conflict);
  EXPECT_TRUE(conflict.sense.empty());

  // Node B preempts node A (arbitration): A loses its registration and the reservation.
  auto pre = out(*b, 0x04, kWrExRo, kB, kA);
  ASSERT_TRUE(pre.good()) << sense_of(pre);
  auto ua = a->command({0, 0, 0, 0, 0, 0}, Dir::none, 0);
  EXPECT_EQ(sense_of(ua), "status 02 sense 6/2a/05") << "REGISTRATIONS PREEMPTED (SPC-4 5.13.11)";
  EXPECT_EQ(write10(*a, 100, d).status, 0x18) << "A is no longer registered";
  auto k2 = in(*a, 0);
  EXPECT_EQ(keys_of(k2), (std::vector<uint64_t>{kB}));
  EXPECT_EQ(be32(k2.data, 0), gen + 3);
  auto rr2 = in(*a, 1);
  ASSERT_EQ(be32(rr2.data, 4), 16u);
  EXPECT_EQ(be64(rr2.data, 8), kB) << "the reservation moved to the preempting node";
  EXPECT_EQ(rr2.data[21], kWrExRo);

  // A registers again; B releases: the other registrant learns RESERVATIONS RELEASED.
  ASSERT_TRUE(out(*a, 0x00, 0, 0, kA).good());
  auto rel = out(*b, 0x02, kWrExRo, kB, 0);
  ASSERT_TRUE(rel.good()) << sense_of(rel);
  auto ua2 = a->command({0, 0, 0, 0, 0, 0}, Dir::none, 0);
  EXPECT_EQ(sense_of(ua2), "status 02 sense 6/2a/04") << "RESERVATIONS RELEASED (SPC-4 5.13.11.2)";
  auto rr3 = in(*b, 1);
  EXPECT_EQ(be32(rr3.data, 4), 0u) << "no reservation after RELEASE";
  EXPECT_TRUE(write10(*x, 100, d).good()) << "no reservation: everyone writes";

  // Unregister both (REGISTER with SERVICE ACTION RESERVATION KEY 0).
  ASSERT_TRUE(out(*a, 0x00, 0, kA, 0).good());
  ASSERT_TRUE(out(*b, 0x00, 0, kB, 0).good());
  auto k3 = in(*x, 0);
  EXPECT_TRUE(keys_of(k3).empty());
  EXPECT_EQ(be32(k3.data, 0), gen + 6);
  for (auto* n : {a.get(), b.get(), x.get()})
    EXPECT_TRUE(n->logout());
}

}  // namespace
