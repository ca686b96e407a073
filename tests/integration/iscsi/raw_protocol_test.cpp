// Malformed and hostile PDUs over raw sockets: the target answers as RFC 7143 says, and other
// sessions keep being served.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "tests/integration/iscsi/raw_client.hpp"
#include "tests/integration/support/process.hpp"

using namespace swiftness::testing;
using namespace std::chrono_literals;

namespace {

constexpr const char* kIqn = "iqn.2026-11.io.swiftness:raw";
constexpr const char* kInitiator = "iqn.2026-11.org.example:raw-client";

class RawProtocol : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_ = std::make_unique<Daemon>(
        dir_.path(),
        std::string("target:\n  iqn: ") + kIqn +
            "\n  portals: [\"127.0.0.1:0\"]\n  login_timeout_ms: 1000\n"
            "state_dir: '@DIR@/state'\n"
            "luns:\n  - {id: 0, name: raw, backend: file, path: '@DIR@/raw.img', size: 16MiB}\n");
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
  }
  // A fresh, logged-in session; checks it works with a NOP-Out ping.
  std::unique_ptr<RawClient> session(bool hd = false, bool dd = false,
                                     std::array<uint8_t, 6> isid = {0x80, 0, 0, 0, 0, 1}) {
    auto c = std::make_unique<RawClient>(daemon_->port());
    EXPECT_TRUE(c->connected());
    EXPECT_TRUE(c->login(kIqn, kInitiator, hd, dd, isid)) << daemon_->log();
    return c;
  }
  static bool answers_ping(RawClient& c, uint32_t itt = 0x77) {
    c.send(c.nop_out(itt));
    auto r = c.receive();
    return r && r->bhs.opcode() == Opcode::nop_in && r->bhs.itt() == itt;
  }
  TempDir dir_;
  std::unique_ptr<Daemon> daemon_;
};

uint8_t reject_reason(const Pdu& p) {
  return p.bhs.b[2];
}

}  // namespace

TEST_F(RawProtocol, UnknownOpcodeIsRejectedAndTheSessionGoesOn) {
  auto c = session();
  PduBuilder bad(Opcode(0x1c));
  bad.flags(0x80).itt(5).field32(24, c->cmd_sn());
  c->send(bad);
  auto r = c->receive();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bhs.opcode(), Opcode::reject);
  EXPECT_EQ(reject_reason(*r), 0x05);  // command not supported
  ASSERT_EQ(r->data.size(), 48u);      // the rejected header comes back
  EXPECT_EQ(uint8_t(r->data[0]) & 0x3f, 0x1c);
  EXPECT_TRUE(answers_ping(*c));
}

TEST_F(RawProtocol, DataSegmentBeyondMaxRecvIsRejectedAndTheConnectionDropped) {
  auto c = session();
  PduBuilder big = c->test_unit_ready(9);
  big.flags(0xa0).field32(20, 1u << 20);  // a WRITE-direction command announcing 1 MiB
  big.data(std::vector<std::byte>(1u << 20));
  c->send(big);
  auto r = c->receive();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bhs.opcode(), Opcode::reject);
  EXPECT_EQ(reject_reason(*r), 0x04);  // protocol error
  EXPECT_FALSE(c->receive(3000));
  EXPECT_TRUE(c->saw_eof());
  EXPECT_TRUE(answers_ping(*session({}, {}, {0x80, 0, 0, 0, 0, 2})));  // others unaffected
}

TEST_F(RawProtocol, BadDataDigestIsRejectedWithReasonDataDigestError) {
  auto c = session(true, true);
  EXPECT_TRUE(answers_ping(*c));
  // A NOP-Out with ping data, then corrupt one payload byte after the digests were computed.
  PduBuilder nop = c->nop_out(0x99, std::vector<std::byte>(64, std::byte{0x5a}));
  auto wire = nop.wire(true, true);
  wire[48 + 4 + 10] ^= 0xff;
  c->send_bytes(wire);
  auto r = c->receive();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bhs.opcode(), Opcode::reject);
  EXPECT_EQ(reject_reason(*r), 0x02);
}

TEST_F(RawProtocol, PingDataComesBackUnderDataDigest) {
  auto c = session(true, true);
  std::vector<std::byte> data(100);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = std::byte(uint8_t(i));
  c->send(c->nop_out(0x55, data));
  auto r = c->receive();  // the reader checks both digests of the reply
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bhs.opcode(), Opcode::nop_in);
  EXPECT_EQ(r->data, data);
}

TEST_F(RawProtocol, CommandBeforeLoginEndsTheConnection) {
  RawClient c(daemon_->port());
  ASSERT_TRUE(c.connected());
  c.send(c.test_unit_ready(1));
  auto r = c.receive();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bhs.opcode(), Opcode::login_response);
  EXPECT_EQ(r->bhs.b[36], 0x02);  // initiator error
  EXPECT_FALSE(c.receive(3000));
  EXPECT_TRUE(c.saw_eof());
}

TEST_F(RawProtocol, CmdSnFarOutsideTheWindowIsIgnored) {
  auto c = session();
  uint32_t exp = c->cmd_sn();
  c->send(c->test_unit_ready(0x10, exp + 1000000));
  EXPECT_FALSE(c->receive(500)) << "a command outside the window must get no answer";
  // The session is alive and ExpCmdSN did not move.
  c->send(c->nop_out(0x11));
  auto nop = c->receive();
  ASSERT_TRUE(nop);
  EXPECT_EQ(nop->bhs.field32(28), exp);
  c->send(c->test_unit_ready(0x12));
  auto tur = c->receive();
  ASSERT_TRUE(tur);
  EXPECT_EQ(tur->bhs.opcode(), Opcode::scsi_response);
  EXPECT_EQ(tur->bhs.itt(), 0x12u);
}

TEST_F(RawProtocol, MaxCmdSnLeavesRoomForAtLeast64Commands) {
  auto c = session();
  EXPECT_GE(int32_t(c->max_cmd_sn() - c->cmd_sn()), 63);
}

TEST_F(RawProtocol, DataOutForAnUnknownTaskIsRejected) {
  auto c = session();
  PduBuilder d(Opcode::data_out);
  d.flags(0x80).itt(0x4242).field32(20, 0xffffffff).data(std::vector<std::byte>(512));
  c->send(d);
  auto r = c->receive();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bhs.opcode(), Opcode::reject);
  EXPECT_EQ(reject_reason(*r), 0x09);  // invalid PDU field
  EXPECT_TRUE(answers_ping(*c));
}

TEST_F(RawProtocol, LoginThatNeverFinishesTimesOut) {
  RawClient idle(daemon_->port());
  ASSERT_TRUE(idle.connected());
  idle.send_bytes({0x43, 0x87, 0, 0});  // half a header, then silence
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(idle.receive(5000));
  EXPECT_TRUE(idle.saw_eof());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
}

TEST_F(RawProtocol, AStalledConnectionDoesNotStallOthers) {
  RawClient stalled(daemon_->port());
  stalled.send_bytes({0x43, 0x87});
  auto c = session();
  for (uint32_t i = 0; i < 20; ++i) {
    c->send(c->test_unit_ready(0x100 + i));
    auto r = c->receive();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->bhs.opcode(), Opcode::scsi_response);
  }
}

TEST_F(RawProtocol, SessionReinstatementClosesTheOldConnection) {
  auto first = session();
  auto second = session();  // same initiator name and ISID, TSIH 0
  EXPECT_FALSE(first->receive(3000));
  EXPECT_TRUE(first->saw_eof());
  EXPECT_TRUE(answers_ping(*second));
}

namespace {

// The daemon's user + system CPU time, from /proc/PID/stat (fields 14 and 15, in clock ticks).
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = all.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return -1;
  std::istringstream fields(all.substr(close + 2));
  std::string f;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i)
    if (i >= 14) ticks += std::stod(f);
  return ticks / double(sysconf(_SC_CLK_TCK));
}

}  // namespace

// nop_interval_ms: 0 means "never ping" (README). The connection's watch loop once took half
// of the shortest period as its sleep, zero here: every idle session spun a core.
TEST(IdleSession, PingsOffAndAnIdleSessionCostsNoCpu) {
  TempDir dir;
  Daemon d(dir.path(), std::string("target:\n  iqn: ") + kIqn +
                           "\n  portals: [\"127.0.0.1:0\"]\n  nop_interval_ms: 0\n"
                           "state_dir: '@DIR@/state'\n"
                           "luns:\n  - {id: 0, name: raw, backend: file, path: '@DIR@/raw.img', "
                           "size: 16MiB}\n");
  ASSERT_TRUE(d.start()) << d.log();
  RawClient c(d.port());
  ASSERT_TRUE(c.login(kIqn, kInitiator, false, false, {0x80, 0, 0, 0, 0, 1})) << d.log();
  const double before = cpu_seconds(d.pid());
  std::this_thread::sleep_for(3s);
  const double used = cpu_seconds(d.pid()) - before;
  ASSERT_GE(before, 0);
  // Idle: a few timer wake-ups. Spinning was ~3 s (one core for 3 s), even under ASan.
  EXPECT_LT(used, 0.5) << d.log();
  c.send(c.nop_out(0x42));
  auto r = c.receive();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bhs.opcode(), Opcode::nop_in);
}
