#include "target/iscsi/login.hpp"

#include <gtest/gtest.h>

#include "target/iscsi/chap.hpp"
#include "tests/unit/iscsi/pdu_builder.hpp"

using namespace swiftness::iscsi;
using swiftness::iscsi::testing::PduBuilder;
using swiftness::iscsi::testing::value_of;

namespace {

constexpr const char* kTarget = "iqn.2026-11.io.swiftness:test";
constexpr const char* kInitiator = "iqn.1991-05.com.microsoft:win-client";
const std::array<uint8_t, 6> kIsid{0x40, 0x00, 0x01, 0x37, 0x00, 0x00};

// Login Request byte 1: T(7) C(6) CSG(3-2) NSG(1-0).
uint8_t login_flags(bool transit, int csg, int nsg) {
  return uint8_t((transit ? 0x80 : 0) | csg << 2 | (transit ? nsg : 0));
}

PduBuilder login(bool transit, int csg, int nsg) {
  PduBuilder b(Opcode::login_request, true);
  b.flags(login_flags(transit, csg, nsg)).isid(kIsid).itt(1).field32(24, 1).field32(28, 0);
  return b;
}

uint16_t status_of(const Pdu& p) {
  return uint16_t(p.bhs.b[36] << 8 | p.bhs.b[37]);
}
uint16_t tsih_of(const Pdu& p) {
  return uint16_t(p.bhs.b[14] << 8 | p.bhs.b[15]);
}

struct Fixture {
  LoginConfig config;
  uint16_t next_tsih = 7;
  LoginMachine make() {
    return LoginMachine(
        config, [](const LoginIdentity&) { return false; }, [this] { return next_tsih++; });
  }
  Fixture() {
    config.target_name = kTarget;
    config.target_portal_group = 1;
  }
};

}  // namespace

// The Windows AuthMethod=None login: one PDU to leave the security stage, TPGT in the first
// response, TSIH only in the final one.
TEST(Login, WindowsStyleNoAuthentication) {
  Fixture f;
  auto m = f.make();
  auto r1 = m.step(login(true, 0, 1)
                       .key("InitiatorName", kInitiator)
                       .key("SessionType", "Normal")
                       .key("TargetName", kTarget)
                       .key("AuthMethod", "None")
                       .build());
  ASSERT_FALSE(r1.failed) << r1.log;
  EXPECT_EQ(value_of(r1.pdu, "AuthMethod"), "None");
  EXPECT_EQ(value_of(r1.pdu, "TargetPortalGroupTag"), "1");
  EXPECT_EQ(r1.pdu.bhs.flags(), 0x81);  // T=1 CSG=0 NSG=1
  EXPECT_EQ(tsih_of(r1.pdu), 0);
  EXPECT_EQ(r1.pdu.bhs.itt(), 1u);
  EXPECT_EQ(r1.pdu.bhs.field32(28), 1u);  // ExpCmdSN
  EXPECT_EQ(r1.pdu.bhs.field32(32), 1u);  // MaxCmdSN == ExpCmdSN during login

  auto r2 = m.step(login(true, 1, 3)
                       .key("HeaderDigest", "None,CRC32C")
                       .key("DataDigest", "None,CRC32C")
                       .key("InitialR2T", "No")
                       .key("ImmediateData", "Yes")
                       .key("MaxRecvDataSegmentLength", "65536")
                       .key("FirstBurstLength", "65536")
                       .key("MaxBurstLength", "262144")
                       .key("ErrorRecoveryLevel", "2")
                       .key("MaxConnections", "32")
                       .build());
  ASSERT_FALSE(r2.failed) << r2.log;
  EXPECT_TRUE(r2.complete);
  EXPECT_EQ(r2.pdu.bhs.flags(), 0x87);  // T=1 CSG=1 NSG=3
  EXPECT_EQ(tsih_of(r2.pdu), 7);
  EXPECT_EQ(value_of(r2.pdu, "ErrorRecoveryLevel"), "0");
  EXPECT_EQ(value_of(r2.pdu, "MaxConnections"), "1");
  EXPECT_EQ(value_of(r2.pdu, "TargetPortalGroupTag"), "<absent>");  // only in the first
  EXPECT_EQ(r2.pdu.bhs.field32(24), r1.pdu.bhs.field32(24) + 1);    // StatSN advances
  EXPECT_EQ(m.params().initiator_max_recv_data_segment_length, 65536u);
  EXPECT_FALSE(m.params().initial_r2t);
}

TEST(Login, UnknownTargetIsNotFound) {
  Fixture f;
  auto m = f.make();
  auto r = m.step(login(true, 0, 1)
                      .key("InitiatorName", kInitiator)
                      .key("TargetName", "iqn.2026-11.io.other:x")
                      .key("AuthMethod", "None")
                      .build());
  EXPECT_TRUE(r.failed);
  EXPECT_EQ(status_of(r.pdu), 0x0203);
}

TEST(Login, MissingInitiatorNameIsMissingParameter) {
  Fixture f;
  auto m = f.make();
  auto r = m.step(login(true, 0, 1).key("TargetName", kTarget).build());
  EXPECT_TRUE(r.failed);
  EXPECT_EQ(status_of(r.pdu), 0x0207);
}

TEST(Login, InvalidStageTransitionIsInitiatorError) {
  Fixture f;
  auto m = f.make();
  // T=1 with NSG=0 from CSG=1 goes backwards.
  PduBuilder b(Opcode::login_request, true);
  b.flags(0x80 | 1 << 2 | 0)
      .isid(kIsid)
      .key("InitiatorName", kInitiator)
      .key("TargetName", kTarget);
  auto r = m.step(b.build());
  EXPECT_TRUE(r.failed);
  EXPECT_EQ(status_of(r.pdu), 0x0200);
}

TEST(Login, IsidMustNotChangeDuringLogin) {
  Fixture f;
  auto m = f.make();
  auto r1 = m.step(login(true, 0, 1)
                       .key("InitiatorName", kInitiator)
                       .key("TargetName", kTarget)
                       .key("AuthMethod", "None")
                       .build());
  ASSERT_FALSE(r1.failed);
  auto r2 = m.step(login(true, 1, 3).isid({1, 2, 3, 4, 5, 6}).build());
  EXPECT_TRUE(r2.failed);
  EXPECT_EQ(status_of(r2.pdu), 0x0200);
}

TEST(Login, AllowListRefusesOtherInitiators) {
  Fixture f;
  f.config.allowed_initiators = {"iqn.2026-01.org.example:only"};
  auto m = f.make();
  auto r = m.step(login(true, 0, 1)
                      .key("InitiatorName", kInitiator)
                      .key("TargetName", kTarget)
                      .key("AuthMethod", "None")
                      .build());
  EXPECT_TRUE(r.failed);
  EXPECT_EQ(status_of(r.pdu), 0x0202);
}

TEST(Login, DiscoverySessionNeedsNoTargetName) {
  Fixture f;
  auto m = f.make();
  auto r = m.step(login(true, 1, 3)
                      .key("InitiatorName", kInitiator)
                      .key("SessionType", "Discovery")
                      .key("MaxRecvDataSegmentLength", "65536")
                      .build());
  ASSERT_FALSE(r.failed) << r.log;
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(m.identity().type, SessionType::discovery);
  EXPECT_EQ(value_of(r.pdu, "TargetPortalGroupTag"), "<absent>");
}

TEST(Login, NonZeroTsihForUnknownSessionIsRefused) {
  Fixture f;
  auto m = f.make();
  auto r = m.step(login(true, 0, 1)
                      .field32(12, 0x00000042)  // bytes 14-15: TSIH 0x42
                      .key("InitiatorName", kInitiator)
                      .key("TargetName", kTarget)
                      .key("AuthMethod", "None")
                      .build());
  EXPECT_TRUE(r.failed);
  EXPECT_EQ(status_of(r.pdu), 0x020a);
}

namespace {

struct ChapLogin {
  Fixture f;
  LoginMachine m;
  uint8_t id = 0;
  std::vector<uint8_t> challenge;
  ChapLogin(bool mutual)
      : m(([&] {
          f.config.chap = ChapCredentials{"alice", "alicesecret12"};
          if (mutual) f.config.mutual_chap = ChapCredentials{"target", "targetsecret1"};
          return f.make();
        })()) {}

  // Runs AuthMethod and CHAP_A; returns the target's challenge.
  void begin() {
    auto r1 = m.step(login(false, 0, 0)
                         .key("InitiatorName", kInitiator)
                         .key("TargetName", kTarget)
                         .key("AuthMethod", "CHAP,None")
                         .build());
    ASSERT_FALSE(r1.failed) << r1.log;
    ASSERT_EQ(value_of(r1.pdu, "AuthMethod"), "CHAP");
    auto r2 = m.step(login(false, 0, 0).key("CHAP_A", "7,5").build());
    ASSERT_FALSE(r2.failed) << r2.log;
    ASSERT_EQ(value_of(r2.pdu, "CHAP_A"), "5");
    id = uint8_t(std::stoi(value_of(r2.pdu, "CHAP_I")));
    challenge = *decode_binary(value_of(r2.pdu, "CHAP_C"));
    ASSERT_EQ(challenge.size(), 16u);
  }
};

}  // namespace

TEST(LoginChap, RightSecretLogsIn) {
  ChapLogin c(false);
  c.begin();
  auto resp = chap_response(c.id, "alicesecret12", c.challenge);
  auto r = c.m.step(login(true, 0, 1)
                        .key("CHAP_N", "alice")
                        .key("CHAP_R", encode_hex(resp.data(), resp.size()))
                        .build());
  ASSERT_FALSE(r.failed) << r.log;
  EXPECT_EQ(r.pdu.bhs.flags(), 0x81);
  auto r2 = c.m.step(login(true, 1, 3).build());
  EXPECT_TRUE(r2.complete);
}

TEST(LoginChap, WrongSecretFailsWithAuthenticationFailure) {
  ChapLogin c(false);
  c.begin();
  auto resp = chap_response(c.id, "wrongsecret12", c.challenge);
  auto r = c.m.step(login(true, 0, 1)
                        .key("CHAP_N", "alice")
                        .key("CHAP_R", encode_hex(resp.data(), resp.size()))
                        .build());
  EXPECT_TRUE(r.failed);
  EXPECT_EQ(status_of(r.pdu), 0x0201);
  EXPECT_EQ(r.log.find("alicesecret12"), std::string::npos);  // never log a secret
}

TEST(LoginChap, WrongNameAndWrongSecretLookTheSame) {
  ChapLogin a(false), b(false);
  a.begin();
  b.begin();
  auto ra = chap_response(a.id, "alicesecret12", a.challenge);
  auto rb = chap_response(b.id, "wrong-secret", b.challenge);
  auto fa = a.m.step(
      login(true, 0, 1).key("CHAP_N", "mallory").key("CHAP_R", encode_hex(ra.data(), 16)).build());
  auto fb = b.m.step(
      login(true, 0, 1).key("CHAP_N", "alice").key("CHAP_R", encode_hex(rb.data(), 16)).build());
  EXPECT_EQ(status_of(fa.pdu), status_of(fb.pdu));
  EXPECT_EQ(fa.pdu.data, fb.pdu.data);
}

TEST(LoginChap, NoAuthMethodWhenChapIsRequiredFails) {
  Fixture f;
  f.config.chap = ChapCredentials{"alice", "alicesecret12"};
  auto m = f.make();
  auto r =
      m.step(login(true, 1, 3).key("InitiatorName", kInitiator).key("TargetName", kTarget).build());
  EXPECT_TRUE(r.failed);
  EXPECT_EQ(status_of(r.pdu), 0x0201);
}

TEST(LoginChap, MutualChapAnswersTheInitiatorsChallenge) {
  ChapLogin c(true);
  c.begin();
  auto resp = chap_response(c.id, "alicesecret12", c.challenge);
  std::vector<uint8_t> my_challenge{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};
  auto r = c.m.step(login(true, 0, 1)
                        .key("CHAP_N", "alice")
                        .key("CHAP_R", encode_hex(resp.data(), resp.size()))
                        .key("CHAP_I", "77")
                        .key("CHAP_C", encode_hex(my_challenge.data(), my_challenge.size()))
                        .build());
  ASSERT_FALSE(r.failed) << r.log;
  auto want = chap_response(77, "targetsecret1", my_challenge);
  EXPECT_EQ(value_of(r.pdu, "CHAP_N"), "target");
  EXPECT_EQ(value_of(r.pdu, "CHAP_R"), encode_hex(want.data(), want.size()));
}

TEST(LoginChap, ReflectedChallengeIsRefused) {
  ChapLogin c(true);
  c.begin();
  auto resp = chap_response(c.id, "alicesecret12", c.challenge);
  auto r = c.m.step(login(true, 0, 1)
                        .key("CHAP_N", "alice")
                        .key("CHAP_R", encode_hex(resp.data(), resp.size()))
                        .key("CHAP_I", std::to_string(c.id))
                        .key("CHAP_C", encode_hex(c.challenge.data(), c.challenge.size()))
                        .build());
  EXPECT_TRUE(r.failed);
  EXPECT_EQ(status_of(r.pdu), 0x0201);
}

TEST(LoginChap, CannotSkipToOperationalStageBeforeChap) {
  ChapLogin c(false);
  c.begin();
  auto r = c.m.step(login(true, 1, 3).key("MaxBurstLength", "262144").build());
  EXPECT_TRUE(r.failed);
}

TEST(Login, ContinuedTextIsJoined) {
  Fixture f;
  auto m = f.make();
  auto part1 = login(false, 0, 0).flags(0x40).key("InitiatorName", kInitiator).build();
  auto r1 = m.step(part1);
  ASSERT_FALSE(r1.failed) << r1.log;
  EXPECT_TRUE(r1.pdu.data.empty());
  auto r2 = m.step(login(true, 0, 1).key("TargetName", kTarget).key("AuthMethod", "None").build());
  ASSERT_FALSE(r2.failed) << r2.log;
  EXPECT_EQ(m.identity().initiator_name, kInitiator);
}

// InitiatorName must be an iSCSI name's worth of UTF-8: raw bytes, control characters and
// over-long names are refused (they would otherwise reach logs and the status page).
TEST(Login, InvalidInitiatorNamesAreRefused) {
  for (std::string bad :
       {std::string("iqn.2026-11.org.example:\xff\xfe"),
        std::string("iqn.2026-11.org.example:a\nb"), std::string("iqn.2026-11.org.example:a b"),
        std::string("iqn.2026-11.org.example:\xc0\xaf"),  // overlong '/'
        std::string("iqn.2026-11.org.example:\xe2\x82"),  // truncated
        "iqn.2026-11.org.example:" + std::string(200, 'x')}) {
    Fixture f;
    auto m = f.make();
    auto r = m.step(login(true, 0, 1)
                        .key("InitiatorName", bad)
                        .key("TargetName", kTarget)
                        .key("AuthMethod", "None")
                        .build());
    EXPECT_TRUE(r.failed) << bad;
    EXPECT_EQ(status_of(r.pdu), 0x0200) << bad;
    EXPECT_EQ(r.log.find('\n'), std::string::npos);
    EXPECT_EQ(r.log.find('\xff'), std::string::npos);
  }
  Fixture f;
  auto m = f.make();
  auto r = m.step(login(true, 0, 1)
                      .key("InitiatorName", "iqn.2026-11.org.example:gr\xc3\xbc\xc3\x9f\x65")
                      .key("TargetName", kTarget)
                      .key("AuthMethod", "None")
                      .build());
  EXPECT_FALSE(r.failed) << r.log;
}

// Initiator text quoted in the failure log is escaped: a newline cannot forge a log line.
TEST(Login, FailureLogEscapesInitiatorText) {
  Fixture f;
  auto m = f.make();
  auto r = m.step(login(true, 0, 1)
                      .key("InitiatorName", kInitiator)
                      .key("TargetName", "iqn.x\n2026-11-22 [error] forged")
                      .key("AuthMethod", "None")
                      .build());
  EXPECT_EQ(status_of(r.pdu), 0x0203);
  EXPECT_EQ(r.log.find('\n'), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("\\x0a"), std::string::npos) << r.log;
}

// Every unknown key needs a NotUnderstood answer; more than one Login Response can carry
// (8192 bytes) fails the login instead of sending an oversized PDU.
TEST(Login, TooManyKeysToAnswerFailTheLogin) {
  auto with_unknown_keys = [](int n) {
    auto b = login(true, 0, 1)
                 .key("InitiatorName", kInitiator)
                 .key("TargetName", kTarget)
                 .key("AuthMethod", "None");
    for (int i = 0; i < n; ++i)
      b.key("X-k" + std::to_string(i), "1");
    return b.build();
  };
  Fixture f;
  auto m = f.make();
  auto few = m.step(with_unknown_keys(100));
  ASSERT_FALSE(few.failed) << few.log;
  EXPECT_EQ(value_of(few.pdu, "X-k99"), "NotUnderstood");
  EXPECT_LE(few.pdu.data.size(), 8192u);

  Fixture g;
  auto m2 = g.make();
  auto many = m2.step(with_unknown_keys(2000));
  EXPECT_TRUE(many.failed);
  EXPECT_EQ(status_of(many.pdu), 0x0200);
  EXPECT_TRUE(many.pdu.data.empty());
}
