// Tasks ended by another I_T nexus, over raw sockets against the real daemon: PREEMPT AND ABORT
// (SPC-4 5.13.11.2.4), CLEAR TASK SET and LOGICAL UNIT RESET (SAM-5 7.5, 7.7). The victim's
// task is a WRITE parked on its R2T, so it is certainly in the task set when the other nexus
// acts, and its late Data-Out shows whether the write still happens.
#include <gtest/gtest.h>

#include "core/bytes.hpp"
#include "tests/integration/iscsi/raw_client.hpp"
#include "tests/integration/support/process.hpp"

using namespace swiftness::testing;

namespace {

constexpr const char* kIqn = "iqn.2026-11.io.swiftness:abort";

struct Sense {
  uint8_t key = 0, asc = 0, ascq = 0;
};

// One logged-in session and the few SCSI commands these tests need.
class Initiator {
 public:
  Initiator(uint16_t port, const std::string& name) : c_(port) {
    EXPECT_TRUE(c_.connected());
    EXPECT_TRUE(c_.login(kIqn, name));
  }

  // Sends a command with `cdb` (and immediate data); returns its ITT.
  uint32_t send_command(std::vector<uint8_t> cdb, uint8_t rw_flags, uint32_t edtl,
                        std::vector<std::byte> immediate = {}) {
    const uint32_t itt = next_itt_++;
    auto b = c_.test_unit_ready(itt);  // takes the next CmdSN; the rest is filled in here
    b.flags(uint8_t(0x80 | rw_flags)).field32(20, edtl);
    for (size_t i = 0; i < cdb.size(); ++i)
      b.byte(32 + i, cdb[i]);
    if (!immediate.empty()) b.data(std::move(immediate));
    c_.send(b);
    return itt;
  }

  // Runs a command with no data and returns its SCSI response.
  std::optional<Pdu> run(std::vector<uint8_t> cdb, std::vector<std::byte> out = {}) {
    const auto len = uint32_t(out.size());
    const uint8_t rw = out.empty() ? 0 : 0x20;  // before `out` is moved from
    const uint32_t itt = send_command(std::move(cdb), rw, len, std::move(out));
    return response_for(itt);
  }

  std::optional<Pdu> response_for(uint32_t itt, int timeout_ms = 5000) {
    while (auto r = c_.receive(timeout_ms)) {
      if (r->bhs.itt() == itt && r->bhs.opcode() != Opcode::r2t) return r;
    }
    return std::nullopt;
  }

  // Clears the unit attentions a new nexus starts with.
  void settle() {
    for (int i = 0; i < 4; ++i) {
      auto r = run(tur());
      if (r && r->bhs.b[3] == 0) return;
    }
    ADD_FAILURE() << "unit attentions do not clear";
  }

  void register_key(uint64_t key) { expect_good(run(pr_out(0, 0, 0, key), pr_params(0, key))); }

  // WRITE (10) of one block at LBA 0 with no immediate data: the target answers with an R2T and
  // the task waits in the task set. Returns {ITT, TTT}.
  std::pair<uint32_t, uint32_t> park_write() {
    const uint32_t itt = send_command({0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0}, 0x20, 512);
    auto r2t = c_.receive();
    EXPECT_TRUE(r2t && r2t->bhs.opcode() == Opcode::r2t && r2t->bhs.itt() == itt);
    return {itt, r2t ? r2t->bhs.field32(20) : 0};
  }

  void send_data_out(uint32_t itt, uint32_t ttt, std::byte fill) {
    PduBuilder d(Opcode::data_out);
    d.flags(0x80).itt(itt).field32(20, ttt).field32(36, 0).field32(40, 0);
    d.data(std::vector<std::byte>(512, fill));
    c_.send(d);
  }

  std::vector<std::byte> read_block0() {
    const uint32_t itt = send_command({0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}, 0x40, 512);
    std::vector<std::byte> data;
    while (auto r = c_.receive()) {
      if (r->bhs.itt() != itt) continue;
      if (r->bhs.opcode() == Opcode::data_in)
        data.insert(data.end(), r->data.begin(), r->data.end());
      if (r->bhs.opcode() == Opcode::scsi_response || (r->bhs.flags() & 0x01)) break;
    }
    return data;
  }

  std::optional<Pdu> tmf(uint8_t function) {
    PduBuilder t(Opcode::task_mgmt_request, true);
    t.flags(uint8_t(0x80 | function)).itt(0x7000 + function).field32(20, 0xffffffff);
    t.field32(24, c_.cmd_sn()).field32(32, c_.cmd_sn());
    c_.send(t);
    return response_for(0x7000 + function);
  }

  RawClient& raw() { return c_; }

  static std::vector<uint8_t> tur() { return std::vector<uint8_t>(6, 0); }
  static std::vector<uint8_t> pr_out(uint8_t sa, uint8_t type, uint64_t, uint64_t) {
    return {0x5f, sa, type, 0, 0, 0, 0, 0, 24, 0};
  }
  static std::vector<std::byte> pr_params(uint64_t key, uint64_t sark) {
    std::vector<std::byte> p(24);
    swiftness::core::store_be64(reinterpret_cast<uint8_t*>(p.data()), key);
    swiftness::core::store_be64(reinterpret_cast<uint8_t*>(p.data()) + 8, sark);
    return p;
  }
  static void expect_good(const std::optional<Pdu>& r) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->bhs.opcode(), Opcode::scsi_response);
    EXPECT_EQ(r->bhs.b[3], 0) << "SCSI status";
  }
  // Fixed-format sense from a CHECK CONDITION response (2-byte length, then the sense data).
  static std::optional<Sense> sense_of(const std::optional<Pdu>& r) {
    if (!r || r->bhs.b[3] != 0x02 || r->data.size() < 2 + 14) return std::nullopt;
    auto s = reinterpret_cast<const uint8_t*>(r->data.data()) + 2;
    return Sense{uint8_t(s[2] & 0x0f), s[12], s[13]};
  }

 private:
  RawClient c_;
  uint32_t next_itt_ = 1;
};

class TaskAbort : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_ = std::make_unique<Daemon>(
        dir_.path(),
        std::string("target:\n  iqn: ") + kIqn +
            "\n  portals: [\"127.0.0.1:0\"]\n"
            "state_dir: '@DIR@/state'\n"
            "luns:\n  - {id: 0, name: abort, backend: file, path: '@DIR@/abort.img', size: "
            "16MiB}\n");
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
    a_ = std::make_unique<Initiator>(daemon_->port(), "iqn.2026-11.org.example:node-a");
    b_ = std::make_unique<Initiator>(daemon_->port(), "iqn.2026-11.org.example:node-b");
    a_->settle();
    b_->settle();
  }

  // The victim's parked write must never happen: its late Data-Out is dropped without a
  // response (no status for an aborted task, no Reject either), and block 0 stays zero.
  void expect_write_aborted(uint32_t itt, uint32_t ttt) {
    b_->send_data_out(itt, ttt, std::byte{0xee});
    EXPECT_FALSE(b_->response_for(itt, 1000)) << "an aborted task answered";
    EXPECT_EQ(a_->read_block0(), std::vector<std::byte>(512)) << daemon_->log();
  }
  void expect_next_sense(Initiator& who, Sense want) {
    auto s = Initiator::sense_of(who.run(Initiator::tur()));
    ASSERT_TRUE(s) << "expected CHECK CONDITION";
    EXPECT_EQ(s->key, want.key);
    EXPECT_EQ(s->asc, want.asc);
    EXPECT_EQ(s->ascq, want.ascq);
  }

  TempDir dir_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<Initiator> a_, b_;
};

constexpr Sense kRegistrationsPreempted{0x6, 0x2a, 0x05};
constexpr Sense kCommandsCleared{0x6, 0x2f, 0x00};
// 29h/00h POWER ON, RESET, OR BUS DEVICE RESET OCCURRED (SPC-4 allows it for a LU reset).
constexpr Sense kReset{0x6, 0x29, 0x00};

}  // namespace

TEST_F(TaskAbort, PreemptAndAbortEndsThePreemptedNexussTasks) {
  a_->register_key(0xa);
  b_->register_key(0xb);
  // B holds a Write Exclusive reservation and has a write in flight.
  Initiator::expect_good(b_->run(Initiator::pr_out(1, 1, 0, 0), Initiator::pr_params(0xb, 0)));
  auto [itt, ttt] = b_->park_write();

  // A preempts B's key and aborts B's tasks; it holds the reservation afterwards.
  Initiator::expect_good(a_->run(Initiator::pr_out(5, 1, 0, 0), Initiator::pr_params(0xa, 0xb)));
  expect_write_aborted(itt, ttt);
  expect_next_sense(*b_, kRegistrationsPreempted);
  expect_next_sense(*b_, kCommandsCleared);
  Initiator::expect_good(b_->run(Initiator::tur()));
}

TEST_F(TaskAbort, PlainPreemptLeavesTheTaskRunning) {
  a_->register_key(0xa);
  b_->register_key(0xb);
  Initiator::expect_good(b_->run(Initiator::pr_out(1, 1, 0, 0), Initiator::pr_params(0xb, 0)));
  auto [itt, ttt] = b_->park_write();
  Initiator::expect_good(a_->run(Initiator::pr_out(4, 1, 0, 0), Initiator::pr_params(0xa, 0xb)));
  // Not aborted: the write runs once its data arrives and gets a status. The pending unit
  // attention comes first (SAM-5 5.14), then A's reservation refuses B's writes.
  b_->send_data_out(itt, ttt, std::byte{0xee});
  auto r = b_->response_for(itt);
  auto s = Initiator::sense_of(r);
  ASSERT_TRUE(s) << "expected CHECK CONDITION";
  EXPECT_EQ(s->asc, kRegistrationsPreempted.asc);
  EXPECT_EQ(s->ascq, kRegistrationsPreempted.ascq);
  auto again =
      b_->run({0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0}, std::vector<std::byte>(512, std::byte{0xee}));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->bhs.b[3], 0x18) << "RESERVATION CONFLICT";
  EXPECT_EQ(a_->read_block0(), std::vector<std::byte>(512));
}

TEST_F(TaskAbort, PreemptAndAbortOfOwnKeySparesTheCommandItself) {
  a_->register_key(0xa);
  Initiator::expect_good(a_->run(Initiator::pr_out(1, 1, 0, 0), Initiator::pr_params(0xa, 0)));
  // SARK = own key: own registration is kept and only type/scope could change; the PR OUT
  // must complete (not abort itself, not wait on itself).
  auto start = std::chrono::steady_clock::now();
  Initiator::expect_good(a_->run(Initiator::pr_out(5, 1, 0, 0), Initiator::pr_params(0xa, 0xa)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST_F(TaskAbort, ClearTaskSetReachesOtherNexusesWithAUnitAttention) {
  auto [itt, ttt] = b_->park_write();
  auto r = a_->tmf(4);  // CLEAR TASK SET, LUN 0
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bhs.opcode(), Opcode::task_mgmt_response);
  EXPECT_EQ(r->bhs.b[2], 0) << "function complete";
  expect_write_aborted(itt, ttt);
  expect_next_sense(*b_, kCommandsCleared);
  Initiator::expect_good(a_->run(Initiator::tur()));  // the one who asked is not told
}

TEST_F(TaskAbort, AbortTaskSetStaysWithinTheNexus) {
  auto [itt, ttt] = b_->park_write();
  auto r = a_->tmf(2);  // ABORT TASK SET, LUN 0: only A's own tasks
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bhs.b[2], 0);
  b_->send_data_out(itt, ttt, std::byte{0x5a});
  auto done = b_->response_for(itt);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->bhs.b[3], 0) << "B's write went on";
  EXPECT_EQ(a_->read_block0(), std::vector<std::byte>(512, std::byte{0x5a}));
}

TEST_F(TaskAbort, LogicalUnitResetAbortsEveryNexussTasks) {
  auto [itt, ttt] = b_->park_write();
  auto r = a_->tmf(5);  // LOGICAL UNIT RESET
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bhs.b[2], 0);
  expect_next_sense(*a_, kReset);
  expect_write_aborted(itt, ttt);
  expect_next_sense(*b_, kReset);
}
