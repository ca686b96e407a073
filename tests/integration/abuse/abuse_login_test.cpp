// Hostile initiators against the real daemon, at login (issue 8, "Hostile input"; fixture:
// abuse_fixture.hpp): floods of logins with wrong CHAP secrets, reflection of the target's own
// CHAP challenge, and oversized or malformed login text. In every case the daemon answers as
// RFC 7143 says, stays up, and an existing session keeps being served. Each loop is bounded in
// count and time.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "target/iscsi/chap.hpp"
#include "target/iscsi/params.hpp"
#include "tests/integration/abuse/abuse_fixture.hpp"

namespace swiftness::testing::abuse {

using namespace std::chrono_literals;

namespace {

// A CHAP login driven step by step, so tests can stop or tamper at any point.
struct ChapLogin {
  ChapLogin(RawClient& client, std::array<uint8_t, 6> isid) : c(client), id(isid) {}
  RawClient& c;
  std::array<uint8_t, 6> id;
  uint8_t chap_i = 0;
  std::vector<uint8_t> chap_c;
  uint32_t stat_sn = 0;

  // Security stage up to the target's challenge; false if anything was refused.
  bool challenge() {
    auto b = login_pdu(0x00, id);  // security stage, T 0
    b.key("InitiatorName", kInitiator).key("SessionType", "Normal").key("TargetName", kIqn);
    b.key("AuthMethod", "CHAP,None");
    c.send(b);
    auto r = c.receive();
    if (!r || status_of(*r) != 0 || value_of(*r, "AuthMethod") != "CHAP") return false;
    stat_sn = r->bhs.field32(24);
    auto a = login_pdu(0x00, id, stat_sn + 1);
    a.key("CHAP_A", "5");
    c.send(a);
    r = c.receive();
    if (!r || status_of(*r) != 0) return false;
    stat_sn = r->bhs.field32(24);
    auto i = iscsi::parse_number(value_of(*r, "CHAP_I"));
    auto ch = iscsi::decode_binary(value_of(*r, "CHAP_C"));
    if (!i || !ch) return false;
    chap_i = uint8_t(*i);
    chap_c = *ch;
    return true;
  }
  std::string response_for(const std::string& secret) const {
    auto d = iscsi::chap_response(chap_i, secret, chap_c);
    return iscsi::encode_hex(d.data(), d.size());
  }
  // Sends CHAP_N/CHAP_R (and a mutual challenge, if given) with T=1 to the operational stage.
  std::optional<Pdu> answer(const std::string& user, const std::string& chap_r,
                            std::optional<std::pair<uint8_t, std::vector<uint8_t>>> mutual = {}) {
    auto b = login_pdu(0x81, id, stat_sn + 1);
    b.key("CHAP_N", user).key("CHAP_R", chap_r);
    if (mutual) {
      b.key("CHAP_I", std::to_string(mutual->first));
      b.key("CHAP_C", iscsi::encode_hex(mutual->second.data(), mutual->second.size()));
    }
    c.send(b);
    auto r = c.receive();
    if (r) stat_sn = r->bhs.field32(24);
    return r;
  }
  bool finish() {
    auto b = login_pdu(0x87, id, stat_sn + 1);
    b.key("HeaderDigest", "None").key("DataDigest", "None");
    b.key("MaxRecvDataSegmentLength", "65536");
    c.send(b);
    auto r = c.receive();
    return r && status_of(*r) == 0 && (r->bhs.flags() & 0x83) == 0x83;
  }
};

}  // namespace

// 200 logins with wrong CHAP credentials from 4 threads while a CHAP-authenticated session does
// I/O: each is answered with Authentication failure (0201), the same way whether the name or
// the secret was wrong, none gets further, no secret or CHAP_R reaches the log, and the running
// session sees no command wait longer than 2 s (a shared 2-core CI machine; typically < 50 ms).
TEST_F(Abuse, WrongChapLoginFloodFailsUniformlyWithoutSlowingASession) {
  start(std::string("  chap: {user: ") + kChapUser + ", secret: " + kChapSecret + "}\n");
  RawClient good(daemon_->port());
  ChapLogin gl{good, isid(1)};
  ASSERT_TRUE(gl.challenge());
  auto ok = gl.answer(kChapUser, gl.response_for(kChapSecret));
  ASSERT_TRUE(ok);
  ASSERT_EQ(status_of(*ok), 0) << daemon_->log();
  ASSERT_TRUE(gl.finish());
  clear_unit_attention(good);

  std::atomic<int> failures_ok{0}, wrong_answers{0};
  std::mutex mu;
  std::vector<std::vector<std::byte>> failure_bodies;
  std::vector<std::string> sent_responses;
  std::vector<std::thread> flood;
  for (int t = 0; t < 4; ++t) {
    flood.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        RawClient c(daemon_->port());
        ChapLogin l{c, isid(1000 + uint32_t(t * 100 + i))};
        if (!l.challenge()) {
          ++wrong_answers;
          continue;
        }
        bool wrong_name = i % 2;
        std::string resp =
            l.response_for(wrong_name ? kChapSecret : "wrongsecret-" + std::to_string(i));
        auto r = l.answer(wrong_name ? "mallory" : kChapUser, resp);
        bool eof = !c.receive(2000) && c.saw_eof();
        if (r && r->bhs.opcode() == Opcode::login_response && status_of(*r) == 0x0201 &&
            (r->bhs.flags() & 0x80) == 0 && eof)
          ++failures_ok;
        else
          ++wrong_answers;
        std::lock_guard lock(mu);
        if (r) failure_bodies.push_back(r->data);
        sent_responses.push_back(resp.substr(2));
      }
    });
  }
  auto worst = Clock::duration::zero();
  int commands = 0;
  auto flood_start = Clock::now();
  bool served = true;
  while (failures_ok + wrong_answers < 200 && Clock::now() - flood_start < 120s) {
    auto t0 = Clock::now();
    if (!answers_tur(good, 0x100 + uint32_t(commands), 5000)) {
      served = false;
      break;
    }
    worst = std::max(worst, Clock::now() - t0);
    ++commands;
  }
  for (auto& th : flood)
    th.join();
  EXPECT_TRUE(served) << "the session stopped answering after " << commands << " commands";
  EXPECT_EQ(failures_ok, 200);
  EXPECT_EQ(wrong_answers, 0);
  for (auto& b : failure_bodies)
    EXPECT_TRUE(b.empty()) << "a failed login answered with keys";
  EXPECT_GT(commands, 10);
  EXPECT_LT(worst, 2s) << "a command waited "
                       << std::chrono::duration_cast<std::chrono::milliseconds>(worst).count()
                       << " ms during the flood";
  std::string log = daemon_->log();
  EXPECT_EQ(log.find(kChapSecret), std::string::npos);
  for (auto& r : sent_responses)
    ASSERT_EQ(log.find(r), std::string::npos) << "CHAP_R in the log";
  EXPECT_TRUE(answers_tur(good, 0x9999));
}

// Mutual CHAP: an initiator that answers our challenge and then sends the very same challenge
// back (hoping we compute the answer for it) is refused; so is one that sends another
// connection's challenge without a valid response of its own. A fresh challenge works.
TEST_F(Abuse, ReflectedChapChallengeIsRefused) {
  start(std::string("  chap: {user: ") + kChapUser + ", secret: " + kChapSecret +
        "}\n  mutual_chap: {user: " + kMutualUser + ", secret: " + kMutualSecret + "}\n");
  {
    RawClient c(daemon_->port());
    ChapLogin l{c, isid(1)};
    ASSERT_TRUE(l.challenge());
    auto r = l.answer(kChapUser, l.response_for(kChapSecret), std::pair(l.chap_i, l.chap_c));
    ASSERT_TRUE(r);
    EXPECT_EQ(status_of(*r), 0x0201);
    EXPECT_EQ(value_of(*r, "CHAP_R"), "<absent>");
  }
  {
    // Across connections: take connection A's challenge to connection B.
    RawClient a(daemon_->port()), b(daemon_->port());
    ChapLogin la{a, isid(2)}, lb{b, isid(3)};
    ASSERT_TRUE(la.challenge());
    ASSERT_TRUE(lb.challenge());
    auto r = lb.answer(kChapUser, "0x" + std::string(32, '0'), std::pair(la.chap_i, la.chap_c));
    ASSERT_TRUE(r);
    EXPECT_EQ(status_of(*r), 0x0201);
    EXPECT_EQ(value_of(*r, "CHAP_R"), "<absent>");
  }
  {
    RawClient c(daemon_->port());
    ChapLogin l{c, isid(4)};
    ASSERT_TRUE(l.challenge());
    std::vector<uint8_t> mine = iscsi::random_bytes(16);
    auto r = l.answer(kChapUser, l.response_for(kChapSecret), std::pair(uint8_t(9), mine));
    ASSERT_TRUE(r);
    ASSERT_EQ(status_of(*r), 0) << daemon_->log();
    auto want = iscsi::chap_response(9, kMutualSecret, mine);
    EXPECT_EQ(value_of(*r, "CHAP_N"), kMutualUser);
    EXPECT_EQ(value_of(*r, "CHAP_R"), iscsi::encode_hex(want.data(), want.size()));
    EXPECT_TRUE(l.finish());
    clear_unit_attention(c);
    EXPECT_TRUE(answers_tur(c, 1));
  }
}

// Oversized and malformed login text gets a Login Response with the right status and the
// connection closed; nothing crashes and a normal login works afterwards.
TEST_F(Abuse, MalformedLoginTextIsAnsweredWithALoginStatus) {
  start("");
  auto security = [](PduBuilder& b) -> PduBuilder& {
    return b.key("InitiatorName", kInitiator).key("SessionType", "Normal").key("TargetName", kIqn);
  };
  // Sends `text` in Login Requests of at most 8 KiB (the login MaxRecvDataSegmentLength), the
  // C bit on all but the last, and returns the final answer's status (-1: none).
  auto send_text = [&](uint32_t n, const std::vector<std::byte>& text) -> int {
    RawClient c(daemon_->port());
    size_t off = 0;
    uint32_t stat_sn = 0;
    while (true) {
      size_t len = std::min<size_t>(8192, text.size() - off);
      bool last = off + len == text.size();
      auto b = login_pdu(last ? 0x81 : 0x40, isid(n), stat_sn);
      b.data(std::vector<std::byte>(text.begin() + long(off), text.begin() + long(off + len)));
      c.send(b);
      auto r = c.receive();
      if (!r || r->bhs.opcode() != Opcode::login_response) return -1;
      if (last || status_of(*r) != 0) {
        bool closed = !c.receive(2000) && c.saw_eof();
        return status_of(*r) != 0 && !closed ? -2 : status_of(*r);
      }
      stat_sn = r->bhs.field32(24) + 1;
      off += len;
    }
  };
  auto text_of = [&](std::initializer_list<std::pair<std::string, std::string>> keys) {
    PduBuilder b(Opcode::login_request);
    security(b);
    for (auto& [k, v] : keys)
      b.key(k, v);
    return b.pdu.data;
  };

  // A value over the RFC's 8192 bytes, split over two PDUs: initiator error.
  EXPECT_EQ(send_text(1, text_of({{"InitiatorAlias", std::string(9000, 'a')}})), 0x0200);
  // 100 KiB of text: more than the target buffers for one request.
  EXPECT_EQ(send_text(2, text_of({{"X-com.example.Big", std::string(100000, 'b')}})), 0x0302);
  // 10,000 distinct keys we do not know (60 KiB): each would need a NotUnderstood answer, far
  // more than one Login Response may carry.
  {
    PduBuilder b(Opcode::login_request);
    security(b);
    b.key("AuthMethod", "None");
    static constexpr char kDigits[] =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for (int i = 0; i < 10000; ++i)
      b.key({kDigits[i / 3844], kDigits[i / 62 % 62], kDigits[i % 62]}, "1");
    EXPECT_EQ(send_text(3, b.pdu.data), 0x0200);
  }
  // A pair without '='.
  {
    auto t = text_of({{"AuthMethod", "None"}});
    for (char ch : std::string("NoEqualsSign"))
      t.push_back(std::byte(ch));
    t.push_back(std::byte{0});
    EXPECT_EQ(send_text(4, t), 0x0200);
  }
  // An InitiatorName that is not UTF-8 (and would reach logs and the status page).
  {
    PduBuilder b(Opcode::login_request);
    b.key("InitiatorName", "iqn.2026-11.org.example:\xff\xfe\x01")
        .key("SessionType", "Normal")
        .key("TargetName", kIqn)
        .key("AuthMethod", "None");
    EXPECT_EQ(send_text(5, b.pdu.data), 0x0200);
  }
  // An unknown SessionType and an unknown target.
  EXPECT_EQ(send_text(6,
                      [&] {
                        PduBuilder b(Opcode::login_request);
                        b.key("InitiatorName", kInitiator)
                            .key("SessionType", "\x80\x81")
                            .key("AuthMethod", "None");
                        return b.pdu.data;
                      }()),
            0x0209);
  EXPECT_EQ(send_text(7,
                      [&] {
                        PduBuilder b(Opcode::login_request);
                        b.key("InitiatorName", kInitiator)
                            .key("TargetName", "iqn.2026-11.io.swiftness:nobody\n")
                            .key("AuthMethod", "None");
                        return b.pdu.data;
                      }()),
            0x0203);
  // One PDU announcing more than 8 KiB during login: framing is suspect, the connection closes.
  {
    RawClient c(daemon_->port());
    auto b = login_pdu(0x81, isid(8));
    security(b).key("InitiatorAlias", std::string(20000, 'c'));
    c.send(b);
    c.receive(3000);
    EXPECT_TRUE(c.saw_eof());
  }
  auto s = session(9);
  EXPECT_TRUE(answers_tur(*s, 1));
  std::string log = daemon_->log();
  EXPECT_EQ(log.find('\xff'), std::string::npos) << "raw initiator bytes in the log";
  EXPECT_EQ(log.find("nobody\n"), std::string::npos) << "a newline from the wire in the log";
}

}  // namespace swiftness::testing::abuse
