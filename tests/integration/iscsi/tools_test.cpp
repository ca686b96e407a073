// The real daemon against libiscsi's tools (iscsi-ls, iscsi-inq, iscsi-readcapacity16) and the
// rwverify client: discovery, login with and without CHAP, digests, data transfer modes.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "tests/integration/support/process.hpp"

using namespace swiftness::testing;
using namespace std::chrono_literals;

namespace {

constexpr const char* kIqn = "iqn.2026-11.io.swiftness:it";

std::string config(const std::string& target_extra = "") {
  return std::string("target:\n  iqn: ") + kIqn +
         "\n  alias: integration\n  portals: [\"127.0.0.1:0\"]\n" + target_extra +
         "state_dir: @DIR@/state\n"
         "luns:\n"
         "  - {id: 0, name: thin, backend: file, path: '@DIR@/thin.img', size: 64MiB}\n"
         "  - {id: 1, name: thick, backend: file, path: '@DIR@/thick.img', size: 32MiB, "
         "thin: false, block_size: 4096}\n";
}

class Tools : public ::testing::Test {
 protected:
  void start(const std::string& target_extra = "") {
    daemon_ = std::make_unique<Daemon>(dir_.path(), config(target_extra));
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
  }
  CommandResult rwverify(std::vector<std::string> args, int lun = 0, const std::string& auth = "") {
    std::vector<std::string> argv{rwverify_binary(), "-q", "--timeout", "20"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(daemon_->url(kIqn, lun, auth));
    return run(argv, 120s);
  }
  TempDir dir_;
  std::unique_ptr<Daemon> daemon_;
};

}  // namespace

TEST_F(Tools, DiscoveryListsTheTargetItsPortalAndLuns) {
  start();
  auto r = run({"iscsi-ls", "-s", "iscsi://" + daemon_->portal()}, 30s);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(std::string("Target:") + kIqn), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Portal:" + daemon_->portal() + ",1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Lun:0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Lun:1"), std::string::npos) << r.output;
}

TEST_F(Tools, InquiryAndReadCapacityDescribeEachLun) {
  start();
  auto inq = run({"iscsi-inq", daemon_->url(kIqn, 0)});
  ASSERT_EQ(inq.exit_code, 0) << inq.output;
  EXPECT_NE(inq.output.find("Peripheral Device Type:DIRECT_ACCESS"), std::string::npos);
  EXPECT_NE(inq.output.find("CmdQue:1"), std::string::npos);

  auto rc0 = run({"iscsi-readcapacity16", daemon_->url(kIqn, 0)});
  ASSERT_EQ(rc0.exit_code, 0) << rc0.output;
  EXPECT_NE(rc0.output.find("Total size:67108864"), std::string::npos) << rc0.output;
  EXPECT_NE(rc0.output.find("LOGICAL BLOCK LENGTH IN BYTES:512"), std::string::npos);
  auto rc1 = run({"iscsi-readcapacity16", daemon_->url(kIqn, 1)});
  ASSERT_EQ(rc1.exit_code, 0) << rc1.output;
  EXPECT_NE(rc1.output.find("Total size:33554432"), std::string::npos) << rc1.output;
  EXPECT_NE(rc1.output.find("LOGICAL BLOCK LENGTH IN BYTES:4096"), std::string::npos);
}

TEST_F(Tools, DeviceIdentifiersAreUniquePerLunAndPersistent) {
  start();
  auto id0 = run({"iscsi-inq", "-e", "1", "-c", "131", daemon_->url(kIqn, 0)});
  auto id1 = run({"iscsi-inq", "-e", "1", "-c", "131", daemon_->url(kIqn, 1)});
  ASSERT_EQ(id0.exit_code, 0) << id0.output;
  ASSERT_EQ(id1.exit_code, 0) << id1.output;
  EXPECT_NE(id0.output.find("NAA"), std::string::npos) << id0.output;
  EXPECT_NE(id0.output, id1.output);
  ASSERT_EQ(daemon_->stop(), 0);
  ASSERT_TRUE(daemon_->start()) << daemon_->log();
  auto again = run({"iscsi-inq", "-e", "1", "-c", "131", daemon_->url(kIqn, 0)});
  EXPECT_EQ(again.output, id0.output);
}

TEST_F(Tools, WritesAndReadsBackMixedSizesWithSixteenInFlight) {
  start();
  auto r = rwverify({"--qd", "16", "--xfer", "4k,1m"});
  EXPECT_EQ(r.exit_code, 0) << r.output << daemon_->log();
  auto r4k = rwverify({"--qd", "32", "--xfer", "4k", "--range", "0:4096"}, 1);
  EXPECT_EQ(r4k.exit_code, 0) << r4k.output;
}

TEST_F(Tools, EveryImmediateDataAndInitialR2TCombinationTransfersCorrectly) {
  start();
  for (std::string imm : {"yes", "no"}) {
    for (std::string r2t : {"yes", "no"}) {
      auto r = rwverify({"--immediate-data", imm, "--initial-r2t", r2t, "--xfer", "4k,1m",
                         "--range", "0:32768", "--seed", imm + r2t == "yesno" ? "3" : "4"});
      EXPECT_EQ(r.exit_code, 0) << "ImmediateData=" << imm << " InitialR2T=" << r2t << "\n"
                                << r.output;
    }
  }
}

TEST_F(Tools, HeaderDigestsProtectEveryPdu) {
  start();
  auto r = rwverify({"--header-digest", "crc32c", "--range", "0:32768"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(daemon_->log().find("digests true/false"), std::string::npos) << daemon_->log();
}

TEST_F(Tools, ChapAdmitsTheRightSecretOnly) {
  start("  chap: {user: alice, secret: alicesecret12}\n");
  auto ok = rwverify({"--range", "0:2048"}, 0, "alice%alicesecret12");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  auto wrong = rwverify({"--range", "0:2048"}, 0, "alice%notthesecret1");
  EXPECT_EQ(wrong.exit_code, 3) << wrong.output;
  auto none = rwverify({"--range", "0:2048"});
  EXPECT_EQ(none.exit_code, 3) << none.output;
  EXPECT_NE(daemon_->log().find("login failed (status 0x0201)"), std::string::npos);
  EXPECT_EQ(daemon_->log().find("alicesecret12"), std::string::npos) << "secret in the log";
}

TEST_F(Tools, MutualChapAuthenticatesTheTargetToo) {
  start(
      "  chap: {user: alice, secret: alicesecret12}\n"
      "  mutual_chap: {user: target, secret: targetsecret34}\n");
  auto ok = rwverify({"--range", "0:2048", "--chap-user", "alice", "--chap-secret", "alicesecret12",
                      "--mutual-chap-user", "target", "--mutual-chap-secret", "targetsecret34"});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  // The initiator expects another target secret: the target's answer must not convince it.
  auto impostor =
      rwverify({"--range", "0:2048", "--chap-user", "alice", "--chap-secret", "alicesecret12",
                "--mutual-chap-user", "target", "--mutual-chap-secret", "othersecret99"});
  EXPECT_EQ(impostor.exit_code, 3) << impostor.output;
}

TEST_F(Tools, DiscoveryWorksWhileANormalSessionIsBusy) {
  start();
  CommandResult load;
  std::thread t([&] {
    load = run({loadgen_binary(), "--rw", "randwrite", "--qd", "8", "--duration", "3",
                daemon_->url(kIqn, 0)},
               60s);
  });
  std::this_thread::sleep_for(500ms);
  auto ls = run({"iscsi-ls", "iscsi://" + daemon_->portal()}, 20s);
  t.join();
  EXPECT_EQ(ls.exit_code, 0) << ls.output;
  EXPECT_NE(ls.output.find(kIqn), std::string::npos);
  EXPECT_EQ(load.exit_code, 0) << load.output;
}

TEST_F(Tools, SynchronizedWritesSurviveKillNine) {
  start();
  auto w = rwverify({"--write-only", "--seed", "42", "--range", "0:65536"});
  ASSERT_EQ(w.exit_code, 0) << w.output;
  daemon_->kill9();
  ASSERT_TRUE(daemon_->start()) << daemon_->log();
  auto v = rwverify({"--verify-only", "--seed", "42", "--range", "0:65536"});
  EXPECT_EQ(v.exit_code, 0) << v.output;
}

TEST_F(Tools, BadConfigIsRefusedWithFileLineAndKey) {
  auto path = dir_.path() / "bad.yaml";
  {
    std::ofstream out(path);
    out << "target:\n  iqn: not-an-iqn\nluns:\n  - {name: a, backend: file, path: /x, size: 1MiB, "
           "block_size: 1000}\n";
  }
  auto r = run({swiftness_binary(), "check-config", path.string()});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(path.string() + ":2:8: target.iqn: 'not-an-iqn' is not an iSCSI name"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("luns[0].block_size: must be 512 or 4096"), std::string::npos)
      << r.output;
}
