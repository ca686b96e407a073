// Hostile initiators against the real daemon, writes and their Data-Out (issue 8, "Hostile
// input"; fixture: abuse_fixture.hpp): writes whose data never completes against the
// per-connection write budget, Data-Out payloads read into the task buffer with a wrong digest,
// and an EDTL far beyond what the CDB writes. Each loop is bounded in count and time.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <thread>
#include <vector>

#include "tests/integration/abuse/abuse_fixture.hpp"

namespace swiftness::testing::abuse {

using namespace std::chrono_literals;

// 64 WRITEs of the LUN's full transfer length (8 MiB, InitialR2T=Yes) from a client that answers
// every R2T but the last of each write, so no write ever completes: before issue 8's write
// budget every write was sent R2Ts and held its whole buffer, 512 MiB pinned by one session.
// Now R2Ts go out only while the connection holds under 16 MiB: two writes get them, the other
// 62 wait without a buffer, the daemon's memory stays within tens of MiB and another session is
// served. ABORT TASK of an admitted write lets the next queued write have its R2Ts, and a
// LOGICAL UNIT RESET releases the rest, after which the same session writes normally. About 3 s.
TEST_F(Abuse, WritesWhoseDataNeverCompletesStayWithinTheWriteBudget) {
  start("");
  auto other = session(2);
  auto c = session(1);
  long rss_before = rss_kib(pid_);
  ASSERT_GT(rss_before, 0);
  constexpr uint32_t kWrites = 64, kBlocks = (8u << 20) / 512, kEdtl = kBlocks * 512u;
  constexpr uint32_t kBudget = 16u << 20;  // Connection::kWriteBufferBudget
  for (uint32_t i = 0; i < kWrites; ++i)
    c->send(write16(*c, 0x100 + i, kBlocks));
  // Answers every R2T but the one that ends its write, in 64 KiB Data-Outs, until nothing more
  // comes for 1 s (bounded: 20 s, 4096 PDUs).
  std::map<uint32_t, uint32_t> r2t_bytes;  // by ITT
  std::vector<uint32_t> admitted;          // ITTs in the order of their first R2T
  uint64_t sent = 0;
  auto answer_r2ts = [&](int idle_ms) {
    auto t0 = Clock::now();
    for (int pdus = 0; pdus < 4096 && Clock::now() - t0 < 20s; ++pdus) {
      auto r = c->receive(idle_ms);
      if (!r) return;
      if (r->bhs.opcode() != Opcode::r2t) {
        ADD_FAILURE() << "unexpected opcode " << int(r->bhs.opcode()) << " for ITT "
                      << r->bhs.itt();
        return;
      }
      uint32_t itt = r->bhs.itt(), off = r->bhs.field32(40), n = r->bhs.field32(44);
      if (!r2t_bytes.count(itt)) admitted.push_back(itt);
      r2t_bytes[itt] += n;
      if (off + n == kEdtl) continue;  // the last burst never comes
      sent += send_solicited(*c, *r, 0x77);
    }
  };
  answer_r2ts(1000);
  long rss_peak = rss_kib(pid_);
  uint64_t total = 0;
  for (auto& [itt, n] : r2t_bytes)
    total += n;
  std::printf(
      "stalled writes: %zu of %u got R2Ts for %llu MiB, %llu MiB sent, RSS %ld -> %ld KiB\n",
      r2t_bytes.size(), kWrites, (unsigned long long)(total >> 20),
      (unsigned long long)(sent >> 20), rss_before, rss_peak);
  EXPECT_EQ(r2t_bytes.size(), kBudget / kEdtl) << "writes sent R2Ts beyond the budget";
  EXPECT_LE(total, kBudget);
  EXPECT_EQ(admitted, (std::vector<uint32_t>{0x100, 0x101})) << "R2Ts in arrival order";
  ASSERT_FALSE(admitted.empty());
  EXPECT_GT(sent, 8u << 20) << "the admitted writes did not get their data in";
  EXPECT_LT(rss_peak - rss_before, 48 * 1024 + kQuarantineKib)
      << "RSS " << rss_before << " -> " << rss_peak << " KiB";
  // Another session is served, reads and writes.
  EXPECT_TRUE(answers_tur(*other, 0x10));
  EXPECT_TRUE(write_blocks(*other, 0x11, 20000, 128, 0x3c));
  auto data = read_blocks(*other, 0x12, 20000, 128);
  ASSERT_TRUE(data);
  EXPECT_EQ(*data, std::vector<std::byte>(128 * 512, std::byte{0x3c}));

  // ABORT TASK of the first admitted write: its budget goes to the next write in the queue.
  PduBuilder abort(Opcode::task_mgmt_request, true);
  abort.flags(0x80 | 1).itt(0x7001).field32(20, admitted[0]);
  abort.field32(24, c->cmd_sn()).field32(32, c->cmd_sn());
  c->send(abort);
  bool answered = false, next_r2t = false;
  for (int pdus = 0; pdus < 4 && !(answered && next_r2t); ++pdus) {
    auto r = c->receive();
    ASSERT_TRUE(r) << "answered " << answered << ", next R2T " << next_r2t;
    if (r->bhs.opcode() == Opcode::task_mgmt_response && r->bhs.itt() == 0x7001) {
      EXPECT_EQ(r->bhs.b[2], 0) << "function complete";
      answered = true;
    } else if (r->bhs.opcode() == Opcode::r2t) {
      EXPECT_EQ(r->bhs.itt(), 0x100u + kBudget / kEdtl) << "not the next write in order";
      next_r2t = true;
    }
  }
  EXPECT_TRUE(answered && next_r2t);

  // LOGICAL UNIT RESET ends every write of the session, queued or admitted, with its bytes.
  PduBuilder reset(Opcode::task_mgmt_request, true);
  reset.flags(0x80 | 5).itt(0x7005).field32(20, 0xffffffff);
  reset.field32(24, c->cmd_sn()).field32(32, c->cmd_sn());
  c->send(reset);
  std::optional<Pdu> r;
  for (int pdus = 0; pdus < 8; ++pdus) {
    r = c->receive();
    if (!r || r->bhs.opcode() == Opcode::task_mgmt_response) break;
  }
  ASSERT_TRUE(r);
  ASSERT_EQ(r->bhs.opcode(), Opcode::task_mgmt_response);
  EXPECT_EQ(r->bhs.b[2], 0) << "function complete";
  EXPECT_FALSE(c->receive(500)) << "an R2T for a write the reset ended";
  clear_unit_attention(*c);
  // Nothing is held any more: a write of the full transfer length runs at once.
  c->send(write16(*c, 0x9000, kBlocks));
  uint32_t got = 0;
  for (int pdus = 0; pdus < 256; ++pdus) {
    r = c->receive();
    if (!r || r->bhs.opcode() != Opcode::r2t) break;
    got += send_solicited(*c, *r, 0x42);
  }
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bhs.opcode(), Opcode::scsi_response);
  EXPECT_EQ(r->bhs.b[3], 0) << "status";
  EXPECT_EQ(got, kEdtl);
}

// Data-Out payloads are read straight into the write's buffer (issue 7), partly through the
// read loop's buffer and partly by a read from the socket into the task buffer itself (the PDU
// arrives in two pieces): with data digests the write lands intact, and a payload whose digest
// is wrong is rejected (reason DATA DIGEST ERROR), the connection dropped and nothing written.
TEST_F(Abuse, DataOutPayloadsReadIntoTheTaskBufferKeepTheirDigestCheck) {
  start("");
  auto other = session(2);
  auto c = std::make_unique<RawClient>(daemon_->port());
  ASSERT_TRUE(c->login(kIqn, kInitiator, true, true, isid(1))) << daemon_->log();
  clear_unit_attention(*c);
  constexpr uint16_t kBlocks = 128;  // 64 KiB, one Data-Out
  std::vector<std::byte> pattern(kBlocks * 512u);
  for (size_t i = 0; i < pattern.size(); ++i)
    pattern[i] = std::byte(uint8_t(i * 13 + 1));
  // WRITE (10) at `lba`, its Data-Out sent as 48 + 4 + 100 bytes, a pause, then the rest.
  auto write_split = [&](uint32_t itt, uint32_t lba, size_t flip) -> std::optional<Pdu> {
    PduBuilder w = c->test_unit_ready(itt);
    w.flags(0xa0).field32(20, kBlocks * 512u);
    uint8_t cdb[10] = {0x2a, 0, 0, 0, uint8_t(lba >> 8), uint8_t(lba), 0, 0, kBlocks, 0};
    for (int i = 0; i < 10; ++i)
      w.byte(32 + i, cdb[i]);
    c->send(w);
    auto r2t = c->receive();
    if (!r2t || r2t->bhs.opcode() != Opcode::r2t) return r2t;
    PduBuilder d(Opcode::data_out);
    d.flags(0x80).itt(itt).field32(20, r2t->bhs.field32(20)).data(pattern);
    auto wire = d.wire(true, true);
    if (flip) wire[48 + 4 + flip] ^= 0x10;  // after the digest was computed
    c->send_bytes(std::vector<uint8_t>(wire.begin(), wire.begin() + 152));
    std::this_thread::sleep_for(50ms);
    c->send_bytes(std::vector<uint8_t>(wire.begin() + 152, wire.end()));
    return c->receive();
  };
  auto r = write_split(0x10, 4096, 0);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->bhs.opcode(), Opcode::scsi_response);
  EXPECT_EQ(r->bhs.b[3], 0) << "status";
  auto data = read_blocks(*c, 0x11, 4096, kBlocks);
  ASSERT_TRUE(data);
  EXPECT_EQ(*data, pattern);

  r = write_split(0x12, 8192, 50000);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->bhs.opcode(), Opcode::reject);
  EXPECT_EQ(r->bhs.b[2], 0x02) << "DATA DIGEST ERROR";
  for (int i = 0; i < 20 && !c->saw_eof(); ++i)
    c->receive(250);
  EXPECT_TRUE(c->saw_eof()) << "the connection stayed up after a data digest error";
  data = read_blocks(*other, 0x13, 8192, kBlocks);
  ASSERT_TRUE(data);
  EXPECT_EQ(*data, std::vector<std::byte>(kBlocks * 512u, std::byte{0}))
      << "a corrupt write landed";
}

// A WRITE whose EDTL (4 MiB) is far beyond what its CDB writes (2 blocks): the daemon keeps only
// the CDB's bytes (issue 8: the buffer is sized from the CDB, not from EDTL), takes the rest of
// the data off the wire, writes exactly the two blocks and answers GOOD with the residual.
TEST_F(Abuse, WriteWithAnEdtlFarBeyondItsCdbWritesOnlyTheCdbsBlocks) {
  start("");
  auto c = session(1);
  constexpr uint32_t kEdtl = 4u << 20;
  PduBuilder w = c->test_unit_ready(0x4000);
  w.flags(0xa0).field32(20, kEdtl);
  uint8_t cdb[10] = {0x2a, 0, 0, 0, 0, 8, 0, 0, 2, 0};  // WRITE (10), LBA 8, 2 blocks
  for (int i = 0; i < 10; ++i)
    w.byte(32 + i, cdb[i]);
  c->send(w);
  uint32_t sent = 0;
  std::optional<Pdu> r;
  for (int pdus = 0; pdus < 4096; ++pdus) {
    r = c->receive();
    if (!r || r->bhs.opcode() != Opcode::r2t) break;
    sent += send_solicited(*c, *r, 0x5a);
  }
  ASSERT_TRUE(r);
  ASSERT_EQ(r->bhs.opcode(), Opcode::scsi_response);
  EXPECT_EQ(r->bhs.b[3], 0) << "status";
  EXPECT_EQ(sent, kEdtl);
  EXPECT_TRUE(r->bhs.flags() & 0x02) << "residual underflow";
  EXPECT_EQ(r->bhs.field32(44), kEdtl - 1024) << "residual count";
  auto data = read_blocks(*c, 0x4001, 6, 6);
  ASSERT_TRUE(data);
  for (size_t i = 0; i < data->size(); ++i) {
    bool written = i >= 2 * 512 && i < 4 * 512;
    ASSERT_EQ(uint8_t((*data)[i]), written ? 0x5a : 0) << "byte " << i << " of blocks 6-11";
  }
}

}  // namespace swiftness::testing::abuse
