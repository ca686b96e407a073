// Hostile initiators against the real daemon, their connections (issue 8, "Hostile input";
// fixture: abuse_fixture.hpp): clients that vanish mid-PDU or mid-Data-Out, a peer that falls
// silent, and more idle connections than the limit. The daemon stays up, frees what they held
// and keeps an existing session served. Each loop is bounded in count and time.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <memory>
#include <thread>
#include <vector>

#include "tests/integration/abuse/abuse_fixture.hpp"

namespace swiftness::testing::abuse {

using namespace std::chrono_literals;

// Clients that vanish mid-PDU or mid-Data-Out (FIN after a partial PDU) give their connection
// slot back, and a write whose data never fully arrived changes nothing on the LUN. With a limit
// of 4 connections, 24 vanished clients would lock everyone out if slots leaked.
TEST_F(Abuse, ClientsVanishingMidPduOrMidDataOutFreeTheirSlotsAndWriteNothing) {
  start("  max_connections: 4\n  login_timeout_ms: 2000\n");
  for (uint32_t i = 0; i < 12; ++i) {
    auto c = session(100 + i);
    PduBuilder tur = c->test_unit_ready(1);
    auto wire = tur.wire();
    c->send_bytes(std::vector<uint8_t>(wire.begin(), wire.begin() + 20));  // 20 of 48 bytes
  }
  for (uint32_t i = 0; i < 12; ++i) {
    auto c = session(200 + i);
    PduBuilder w = c->test_unit_ready(7);
    w.flags(0xa0).field32(20, 8192);
    uint8_t cdb[10] = {0x2a, 0, 0, 0, 0, 64, 0, 0, 16, 0};  // WRITE (10) LBA 64, 16 blocks
    for (int k = 0; k < 10; ++k)
      w.byte(32 + k, cdb[k]);
    c->send(w);
    auto r2t = c->receive();
    ASSERT_TRUE(r2t);
    ASSERT_EQ(r2t->bhs.opcode(), Opcode::r2t);
    PduBuilder d(Opcode::data_out);
    d.flags(0x80).itt(7).field32(20, r2t->bhs.field32(20)).field32(36, 0);
    d.data(std::vector<std::byte>(r2t->bhs.field32(44), std::byte{0xab}));
    auto dw = d.wire();
    c->send_bytes(std::vector<uint8_t>(dw.begin(), dw.begin() + 48 + 1000));  // header + 1000
  }
  // Every slot came back: a new session logs in (the daemon may need a moment to see the FINs).
  std::unique_ptr<RawClient> c;
  for (int attempt = 0; attempt < 50; ++attempt) {
    c = std::make_unique<RawClient>(daemon_->port());
    if (c->login(kIqn, kInitiator, false, false, isid(999))) break;
    c.reset();
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(c) << daemon_->log();
  clear_unit_attention(*c);
  auto data = read_blocks(*c, 0x10, 64, 16);
  ASSERT_TRUE(data);
  EXPECT_EQ(*data, std::vector<std::byte>(8192, std::byte{0})) << "a torn write reached the LUN";
  ASSERT_TRUE(write_blocks(*c, 0x11, 64, 16, 0x5a));
  data = read_blocks(*c, 0x12, 64, 16);
  ASSERT_TRUE(data);
  EXPECT_EQ(*data, std::vector<std::byte>(8192, std::byte{0x5a}));
}

// A peer that goes silent without closing (cable pulled, host frozen) in the middle of a
// Data-Out is found by the NOP-In ping and dropped within the configured timeout.
TEST_F(Abuse, SilentPeerMidDataOutIsDroppedByThePingTimeout) {
  start("  nop_interval_ms: 200\n  nop_timeout_ms: 1000\n");
  auto c = session(1);
  PduBuilder w = c->test_unit_ready(7);
  w.flags(0xa0).field32(20, 4096);
  uint8_t cdb[10] = {0x2a, 0, 0, 0, 0, 8, 0, 0, 8, 0};
  for (int k = 0; k < 10; ++k)
    w.byte(32 + k, cdb[k]);
  c->send(w);
  auto r2t = c->receive();
  ASSERT_TRUE(r2t);
  ASSERT_EQ(r2t->bhs.opcode(), Opcode::r2t);
  PduBuilder d(Opcode::data_out);
  d.flags(0x80).itt(7).field32(20, r2t->bhs.field32(20));
  d.data(std::vector<std::byte>(4096, std::byte{1}));
  auto dw = d.wire();
  c->send_bytes(std::vector<uint8_t>(dw.begin(), dw.begin() + 48 + 100));
  auto silent_since = Clock::now();
  // From here on the client never answers; it only watches for the target hanging up.
  int nop_ins = 0;
  while (Clock::now() - silent_since < 10s) {
    auto r = c->receive(500);
    if (r && r->bhs.opcode() == Opcode::nop_in) ++nop_ins;
    if (c->saw_eof()) break;
  }
  auto waited = Clock::now() - silent_since;
  EXPECT_TRUE(c->saw_eof()) << "the target kept a silent connection for 10 s";
  EXPECT_LT(waited, 4s);
  EXPECT_GE(nop_ins, 1) << "dropped without pinging first";
  EXPECT_TRUE(answers_tur(*session(2), 0x20));
}

// 10,000 idle TCP connections against a limit of 64 (issue 8): the daemon closes the extra ones
// at once, holds no more descriptors than the limit allows, keeps serving an existing session's
// I/O, and takes new logins again once the crowd leaves.
TEST_F(Abuse, TenThousandIdleConnectionsBeyondTheLimitAreRefused) {
  constexpr int kCrowd = 10000;
  // This process holds the whole crowd's descriptors: raise its soft limit (the hard limit is
  // 512 Ki or more on Debian; a machine below that cannot run the test as specified).
  rlimit nofile{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &nofile), 0);
  const rlim_t need = kCrowd + 512;
  if (nofile.rlim_cur < need) {
    ASSERT_GE(nofile.rlim_max, need) << "the hard limit on open files is below " << need;
    nofile.rlim_cur = need;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &nofile), 0);
  }
  start("  max_connections: 64\n  login_timeout_ms: 30000\n");
  auto s = session(1);
  ASSERT_TRUE(write_blocks(*s, 1, 0, 8, 0x33));
  long fds_before = open_fds(pid_);

  std::vector<std::unique_ptr<RawClient>> crowd;
  for (int i = 0; i < kCrowd; ++i) {
    crowd.push_back(std::make_unique<RawClient>(daemon_->port()));
    if (i % 1000 == 999) {
      ASSERT_TRUE(answers_tur(*s, 0x1000 + uint32_t(i), 2000)) << "after " << i + 1;
    }
  }
  // The daemon accepts and closes the extra ones at once; give a loaded machine up to 20 s.
  std::vector<bool> closed(crowd.size(), false);
  int open = 0, refused = 0;
  for (auto t0 = Clock::now(); Clock::now() - t0 < 20s;) {
    open = refused = 0;
    for (size_t i = 0; i < crowd.size(); ++i) {
      if (!closed[i] && crowd[i]->connected()) {
        crowd[i]->receive(0);  // EOF now if the daemon closed it
        closed[i] = crowd[i]->saw_eof();
      }
      closed[i] || !crowd[i]->connected() ? ++refused : ++open;
    }
    if (open <= 63) break;
    std::this_thread::sleep_for(200ms);
  }
  long fds_during = open_fds(pid_);
  EXPECT_LE(open, 63) << "beyond the limit of 64 (one slot is the existing session)";
  EXPECT_GE(refused, kCrowd - 63);
  EXPECT_LE(fds_during - fds_before, 70) << "the daemon holds descriptors beyond its limit";
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(answers_tur(*s, 0x2000 + i, 2000));
  auto data = read_blocks(*s, 0x3000, 0, 8);
  ASSERT_TRUE(data);
  EXPECT_EQ(*data, std::vector<std::byte>(4096, std::byte{0x33}));

  crowd.clear();
  std::unique_ptr<RawClient> late;
  for (int attempt = 0; attempt < 50 && !late; ++attempt) {
    late = std::make_unique<RawClient>(daemon_->port());
    if (!late->login(kIqn, kInitiator, false, false, isid(2))) {
      late.reset();
      std::this_thread::sleep_for(100ms);
    }
  }
  ASSERT_TRUE(late) << "no login possible after the crowd left";
  clear_unit_attention(*late);
  EXPECT_TRUE(answers_tur(*late, 0x4000));
}

}  // namespace swiftness::testing::abuse
