// The Windows-profile tests of login and the session (fixture: windows_profile_fixture.hpp):
// discovery and SendTargets, Windows' login offers and the answers it needs, CRC32C digests,
// the registry variants of the offers (unsolicited Data-Out, small MaxBurstLength), target
// pings, CHAP and mutual CHAP. Each runs against a file LUN and, as swift.*, a Swift-backed one.
#include <gtest/gtest.h>

#include "tests/integration/iscsi/windows_profile_fixture.hpp"

using namespace swiftness::testing;
using namespace swiftness::testing::windows_profile;

namespace {

TEST_F(WindowsProfile, DiscoveryWhileNormalSessionRunsThenLoginToTheAdvertisedAddress) {
  start();
  auto disc = connect("win-node1", 0);
  MsLoginOptions d;
  d.discovery = true;
  auto lr = disc->login(d);
  ASSERT_TRUE(lr.ok) << std::hex << lr.status;
  EXPECT_EQ(lr.answers.count("TargetPortalGroupTag"), 0u) << "TPGT is for Normal sessions";
  auto keys = disc->send_targets("All");
  // Separate keys, TargetName first, TargetAddress with ",tpgt" (the note §2).
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0], (std::pair<std::string, std::string>("TargetName", kIqn)));
  EXPECT_EQ(keys[1].first, "TargetAddress");
  EXPECT_EQ(keys[1].second, daemon_->portal() + ",1");
  ASSERT_TRUE(disc->logout());

  // Windows connects to what SendTargets advertised.
  auto comma = keys[1].second.rfind(',');
  auto colon = keys[1].second.rfind(':', comma);
  uint16_t port = uint16_t(std::stoi(keys[1].second.substr(colon + 1, comma - colon - 1)));
  MsInitiator normal(port, ms_initiator_name("win-node1"), ms_isid(1));
  MsLoginOptions o;
  o.target = kIqn;
  ASSERT_TRUE(normal.login(o).ok);
  clear_ua(normal);

  // A refresh: a second discovery session while the normal one is open (the note §2).
  auto refresh = connect("win-node1", 2);
  ASSERT_TRUE(refresh->login(d).ok);
  auto again = refresh->send_targets("All");
  EXPECT_EQ(again, keys);
  auto inq = normal.command(inquiry(false, 0, 36), Dir::read, 36);
  EXPECT_TRUE(inq.good()) << sense_of(inq);
  EXPECT_TRUE(refresh->logout());
  EXPECT_TRUE(normal.logout());
}

TEST_F(WindowsProfile, LoginOffersGetTheAnswersWindowsNeeds) {
  start();
  auto c = connect("win-node1", 0);
  MsLoginOptions o;
  o.target = kIqn;
  auto r = c->login(o);
  ASSERT_TRUE(r.ok);
  // Security stage answers: AuthMethod=None, TargetAlias, TPGT=1 (the note §3, LIO's answer).
  EXPECT_EQ(r.answers["AuthMethod"], "None");
  EXPECT_EQ(r.answers["TargetAlias"], "windows");
  EXPECT_EQ(r.answers["TargetPortalGroupTag"], "1");
  // Operational results. The target accepts unsolicited and immediate data, so Windows' OR/AND
  // keys come back as offered; bursts are Windows' (smaller than the target's limits).
  EXPECT_EQ(r.answers["InitialR2T"], "No");
  EXPECT_EQ(r.answers["ImmediateData"], "Yes");
  EXPECT_EQ(r.answers["MaxBurstLength"], "262144");
  EXPECT_EQ(r.answers["FirstBurstLength"], "65536");
  EXPECT_EQ(r.answers["HeaderDigest"], "None");  // None is first in Windows' list
  EXPECT_EQ(r.answers["DataDigest"], "None");
  EXPECT_EQ(c->params().max_burst, 262144u);
  EXPECT_FALSE(c->params().initial_r2t);
  EXPECT_TRUE(c->params().immediate_data);
  // Answered ERL / MaxConnections are the target's (≤ Windows' 2 / 32), checked by the client.
  EXPECT_LE(std::stoi(r.answers["ErrorRecoveryLevel"]), 2);
  clear_ua(*c);
  // CmdSN progression: ExpCmdSN follows every non-immediate command.
  uint32_t before = c->cmd_sn();
  for (int i = 0; i < 5; ++i)
    EXPECT_TRUE(c->command({0, 0, 0, 0, 0, 0}, Dir::none, 0).good());
  EXPECT_EQ(c->cmd_sn(), before + 5);
  EXPECT_EQ(c->exp_cmd_sn(), c->cmd_sn());
  EXPECT_TRUE(c->logout());
}

TEST_F(WindowsProfile, Crc32cDigestsWhenWindowsRequiresThem) {
  start();
  MsLoginOptions o;
  o.offers = ms_normal_offers("CRC32C");  // "Enable header/data digest" ticked
  auto c = session("win-node1", 0, o);
  ASSERT_TRUE(c->params().header_digest);
  ASSERT_TRUE(c->params().data_digest);
  clear_ua(*c);
  // Every PDU below is digest-checked by the client; odd lengths exercise the padding.
  auto inq = c->command(inquiry(false, 0, 0xff), Dir::read, 0xff);
  EXPECT_TRUE(inq.good()) << sense_of(inq);
  auto data = pattern(256 << 10, 7);
  auto w = write10(*c, 100, data);
  EXPECT_TRUE(w.good()) << sense_of(w);
  EXPECT_EQ(w.immediate_bytes, 65536u);
  EXPECT_EQ(w.r2ts, 1u);
  auto rd = read10(*c, 100, 256 << 10);
  ASSERT_TRUE(rd.good()) << sense_of(rd);
  EXPECT_TRUE(rd.data == data);
  EXPECT_TRUE(c->logout());
}

TEST_F(WindowsProfile, RegistryVariantsUnsolicitedDataOut) {
  start();
  // ImmediateData=0 and FirstBurstLength=262144 (Azure guidance) in the registry: writes go as
  // unsolicited Data-Out up to FirstBurstLength, the rest by R2T.
  MsLoginOptions o;
  o.offers = ms_normal_offers();
  for (auto& [k, v] : o.offers) {
    if (k == "ImmediateData") v = "No";
    if (k == "FirstBurstLength") v = "262144";
  }
  auto c = session("win-node1", 0, o);
  ASSERT_FALSE(c->params().immediate_data);
  ASSERT_EQ(c->params().first_burst, 262144u);
  clear_ua(*c);
  auto data = pattern(256 << 10, 21);
  auto w = write10(*c, 300, data);
  ASSERT_TRUE(w.good()) << sense_of(w);
  EXPECT_EQ(w.immediate_bytes, 0u);
  EXPECT_GE(w.unsolicited_pdus, 1u);
  EXPECT_EQ(w.r2ts, 0u);
  EXPECT_TRUE(read10(*c, 300, 256 << 10).data == data);
  EXPECT_TRUE(c->logout());
}

TEST_F(WindowsProfile, RegistrySmallMaxBurstLengthSplitsSequences) {
  start();
  // MaxBurstLength=65536 in the registry: a 256 KiB write is 64 KiB immediate + 3 R2Ts, a
  // 256 KiB read is 4 Data-In sequences, each ending with F (checked by the client).
  MsLoginOptions o;
  o.offers = ms_normal_offers();
  for (auto& [k, v] : o.offers)
    if (k == "MaxBurstLength") v = "65536";
  auto c = session("win-node1", 0, o);
  ASSERT_EQ(c->params().max_burst, 65536u);
  clear_ua(*c);
  auto data = pattern(256 << 10, 31);
  auto w = write10(*c, 900, data);
  ASSERT_TRUE(w.good()) << sense_of(w);
  EXPECT_EQ(w.immediate_bytes, 65536u);
  EXPECT_EQ(w.r2ts, 3u);
  auto r = read10(*c, 900, 256 << 10);
  ASSERT_TRUE(r.good()) << sense_of(r);
  EXPECT_TRUE(r.data == data);
  EXPECT_TRUE(c->logout());
}

TEST_F(WindowsProfile, DiscoveryWithCrc32cDigests) {
  start();
  auto disc = connect("win-node1", 0);
  MsLoginOptions d;
  d.discovery = true;
  d.offers = ms_discovery_offers();
  for (auto& [k, v] : d.offers)
    if (k == "HeaderDigest" || k == "DataDigest") v = "CRC32C";
  ASSERT_TRUE(disc->login(d).ok);
  ASSERT_TRUE(disc->params().header_digest && disc->params().data_digest);
  auto keys = disc->send_targets("All");  // digest-checked, padded text
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[1].second, daemon_->portal() + ",1");
  EXPECT_TRUE(disc->logout());
}

TEST_F(WindowsProfile, TargetPingsAreAnsweredAndKeepTheSessionAlive) {
  // EnableNOPOut=0: Windows never pings, but answers the target's NOP-In (the note §4).
  start(false, false, "  nop_interval_ms: 200\n  nop_timeout_ms: 1000\n");
  auto c = session();
  clear_ua(*c);
  auto until = std::chrono::steady_clock::now() + 2500ms;
  while (std::chrono::steady_clock::now() < until)
    c->pump(100);
  EXPECT_GE(c->pings_answered(), 2u) << "idle for 2.5 s with a 200 ms ping interval";
  EXPECT_FALSE(c->raw().saw_eof()) << "answered pings must keep the connection";
  EXPECT_TRUE(c->command({0, 0, 0, 0, 0, 0}, Dir::none, 0).good());
  // EnableNOPOut=1: Windows pings too; odd lengths exercise the padding.
  std::vector<uint8_t> ping_data{1, 2, 3, 4, 5};
  EXPECT_EQ(c->ping(ping_data), ping_data);
  EXPECT_EQ(c->ping({}), std::vector<uint8_t>{});
  EXPECT_TRUE(c->logout());
}

class WindowsProfileChap : public WindowsProfile {};

TEST_F(WindowsProfileChap, ChapWithTwelveByteSecret) {
  start(/*chap=*/true, /*mutual=*/false);
  MsLoginOptions o;
  o.chap_user = kChapUser;
  o.chap_secret = kChapSecret;
  auto c = session("win-node1", 0, o);
  clear_ua(*c);
  EXPECT_TRUE(c->logout());
  // A wrong secret: Authentication failure (0201), connection closed.
  auto bad = connect("win-node1", 1);
  o.chap_secret = "wrong-secret";
  o.target = kIqn;
  auto r = bad->login(o);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.status, 0x0201);
}

TEST_F(WindowsProfileChap, MutualChapWithSixteenByteTargetSecret) {
  start(true, true);
  MsLoginOptions o;
  o.chap_user = kChapUser;
  o.chap_secret = kChapSecret;
  o.mutual_user = kMutualUser;
  o.mutual_secret = kMutualSecret;
  auto c = session("win-node1", 0, o);
  clear_ua(*c);
  auto inq = c->command(inquiry(false, 0, 36), Dir::read, 36);
  EXPECT_TRUE(inq.good());
  EXPECT_TRUE(c->logout());
}

}  // namespace
