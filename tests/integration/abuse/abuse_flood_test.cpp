// Hostile initiators against the real daemon, floods (issue 8, "Hostile input"; fixture:
// abuse_fixture.hpp): NOP-Out floods, and NOP-Outs or READs from a client that never reads its
// answers. The daemon answers what it must, its memory stays bounded, another session is served
// throughout and a client that takes nothing off its socket is dropped. Each loop is bounded in
// count and time.
#include <gtest/gtest.h>

#include <cstdio>
#include <vector>

#include "tests/integration/abuse/abuse_fixture.hpp"

namespace swiftness::testing::abuse {

using namespace std::chrono_literals;

// 20,000 NOP-Outs with 1 KiB of ping data (kept 256 deep in flight) and 20,000 unsolicited
// NOP-Outs that want no answer: every ping is answered with its data, nothing else is sent, the
// other session is served throughout and the daemon's memory stays within 64 MiB of its start.
TEST_F(Abuse, NopOutFloodIsAnsweredAndMemoryStaysBounded) {
  start("");
  auto flooder = session(1);
  auto other = session(2);
  ASSERT_TRUE(answers_tur(*other, 1));
  long rss_before = rss_kib(pid_);
  ASSERT_GT(rss_before, 0);

  constexpr uint32_t kPings = 20000, kDepth = 256;
  std::vector<std::byte> payload(1024);
  for (size_t i = 0; i < payload.size(); ++i)
    payload[i] = std::byte(uint8_t(i * 7));
  uint32_t sent = 0, answered = 0;
  long rss_peak = rss_before;
  auto start = Clock::now();
  while (answered < kPings && Clock::now() - start < 60s) {
    while (sent < kPings && sent - answered < kDepth) {
      flooder->send(flooder->nop_out(0x10000 + sent, payload));
      ++sent;
    }
    auto r = flooder->receive();
    ASSERT_TRUE(r) << "no NOP-In after " << answered << " answers";
    ASSERT_EQ(r->bhs.opcode(), Opcode::nop_in);
    ASSERT_EQ(r->bhs.itt(), 0x10000 + answered);
    ASSERT_EQ(r->data, payload);
    ++answered;
    if (answered % 2000 == 0) {
      rss_peak = std::max(rss_peak, rss_kib(pid_));
      ASSERT_TRUE(answers_tur(*other, 0x100 + answered / 2000, 2000)) << "starved at " << answered;
    }
  }
  EXPECT_EQ(answered, kPings);
  // Unsolicited NOP-Outs (ITT 0xffffffff) get no answer at all.
  for (uint32_t i = 0; i < kPings; ++i)
    flooder->send(flooder->nop_out(0xffffffff, {}));
  EXPECT_TRUE(answers_tur(*flooder, 0x42));  // the next PDU is the TUR's response
  EXPECT_TRUE(answers_tur(*other, 0x43));
  rss_peak = std::max(rss_peak, rss_kib(pid_));
  EXPECT_LT(rss_peak - rss_before, 64 * 1024 + kQuarantineKib)
      << "RSS " << rss_before << " -> " << rss_peak << " KiB";
}

// The same flood from a client that never reads its answers, 64 KiB of ping data per NOP-Out:
// once a few MiB of NOP-Ins are queued the daemon stops reading that socket (TCP then stops the
// client), its memory stays bounded, another session is served throughout, and the NOP-In
// timeout drops the client that takes nothing off its socket. Before the fix the daemon queued
// every answer: 1.7 GB RSS after 20 s. About 5 s.
TEST_F(Abuse, NopOutFloodFromAClientThatNeverReadsStaysBounded) {
  start(kShortPings);
  auto other = session(2);
  int fd = logged_in_socket(1);
  ASSERT_GE(fd, 0);
  auto wire = PduBuilder(Opcode::nop_out, true)
                  .flags(0x80)
                  .itt(0x5000)
                  .field32(20, 0xffffffff)
                  .data(std::vector<std::byte>(65536, std::byte{0xaa}))
                  .wire();
  auto f = flood_without_reading(fd, *other, [&](uint64_t) { return wire; });
  ::close(fd);
  expect_bounded(f);
}

// A client that never reads sends immediate 64 KiB READs (immediate commands take no CmdSN, so
// the command window does not hold them back): the daemon runs at most max_tasks_per_session of
// them at once (TASK SET FULL beyond), stops reading once the Data-In backlog passes a few MiB,
// keeps its memory bounded and another session served, and drops the client by the NOP-In
// timeout. About 5 s.
TEST_F(Abuse, ReadFloodFromAClientThatNeverReadsStaysBounded) {
  start(kShortPings);
  auto other = session(2);
  int fd = logged_in_socket(1);
  ASSERT_GE(fd, 0);
  constexpr uint16_t kBlocks = 128;  // 64 KiB; the LUN has 32768 blocks
  auto f = flood_without_reading(fd, *other, [&](uint64_t i) {
    uint32_t lba = uint32_t(i * kBlocks % 32768);
    PduBuilder rd(Opcode::scsi_command, true);
    rd.flags(0xc0).itt(uint32_t(0x10000 + i)).field32(20, kBlocks * 512u).field32(24, 1);
    uint8_t cdb[10] = {
        0x28,         0, uint8_t(lba >> 24),    uint8_t(lba >> 16), uint8_t(lba >> 8),
        uint8_t(lba), 0, uint8_t(kBlocks >> 8), uint8_t(kBlocks),   0};
    for (int k = 0; k < 10; ++k)
      rd.byte(32 + k, cdb[k]);
    return rd.wire();
  });
  ::close(fd);
  expect_bounded(f);
  auto data = read_blocks(*other, 0x7000, 0, 128);
  ASSERT_TRUE(data) << "the other session cannot read after the flood";
  EXPECT_EQ(data->size(), 65536u);
}

// READs of the LUN's full MAXIMUM TRANSFER LENGTH (8 MiB) from a client that never reads: each
// would pin its whole buffer, 128 of them 1 GiB. The per-connection budget of running buffers
// stops the daemon reading new commands (issue 8), so its memory stays within tens of MiB,
// another session is served, and the client is dropped by the NOP-In timeout. Before that, a
// READ beyond the limit with a 64 MiB EDTL is refused with INVALID FIELD IN CDB. About 6 s.
TEST_F(Abuse, FullLengthReadsFromAClientThatNeverReadsStayWithinTheBufferBudget) {
  start(kShortPings);
  auto other = session(2);
  constexpr uint32_t kLimitBlocks = (8u << 20) / 512;  // the file LUN's MAXIMUM TRANSFER LENGTH
  auto read16 = [](PduBuilder& b, uint32_t blocks) {
    uint8_t cdb[16] = {0x88,
                       0,
                       0,
                       0,
                       0,
                       0,
                       0,
                       0,
                       0,
                       0,
                       uint8_t(blocks >> 24),
                       uint8_t(blocks >> 16),
                       uint8_t(blocks >> 8),
                       uint8_t(blocks),
                       0,
                       0};
    for (int k = 0; k < 16; ++k)
      b.byte(32 + k, cdb[k]);
  };
  {
    PduBuilder over = other->test_unit_ready(0x6000);
    over.flags(0xc0).field32(20, 64u << 20);
    read16(over, kLimitBlocks + 1);
    other->send(over);
    auto r = other->receive();
    ASSERT_TRUE(r);
    ASSERT_EQ(r->bhs.opcode(), Opcode::scsi_response);
    EXPECT_EQ(r->bhs.b[3], 0x02) << "CHECK CONDITION";
    ASSERT_GE(r->data.size(), 2u + 14u);
    EXPECT_EQ(uint8_t(r->data[2 + 2]) & 0x0f, 0x05) << "ILLEGAL REQUEST";
    EXPECT_EQ(uint8_t(r->data[2 + 12]), 0x24) << "INVALID FIELD IN CDB";
  }
  int fd = logged_in_socket(1);
  ASSERT_GE(fd, 0);
  auto f = flood_without_reading(fd, *other, [&](uint64_t i) {
    PduBuilder rd(Opcode::scsi_command, true);
    rd.flags(0xc0).itt(uint32_t(0x10000 + i)).field32(20, kLimitBlocks * 512u).field32(24, 1);
    read16(rd, kLimitBlocks);
    return rd.wire();
  });
  ::close(fd);
  std::printf("full-length reads: RSS %ld -> %ld KiB, %d TURs (%d late), %s\n", f.rss_before,
              f.rss_peak, f.tur_checks, f.tur_failures, f.dropped ? "dropped" : "NOT dropped");
  // Budget 16 MiB running, plus one command over it, plus the Data-In queued under the 4 MiB
  // output mark and the 8 MiB response that crosses it: well under 64 MiB, against 1 GiB.
  EXPECT_LT(f.rss_peak - f.rss_before, 64 * 1024 + kQuarantineKib)
      << "RSS " << f.rss_before << " -> " << f.rss_peak << " KiB";
  EXPECT_GE(f.tur_checks, 4);
  EXPECT_EQ(f.tur_failures, 0) << "the other session was not served in time";
  EXPECT_TRUE(f.dropped) << "the daemon kept a connection that reads nothing";
  auto data = read_blocks(*other, 0x7000, 0, 128);
  ASSERT_TRUE(data) << "the other session cannot read after the flood";
  EXPECT_EQ(data->size(), 65536u);
}

}  // namespace swiftness::testing::abuse
