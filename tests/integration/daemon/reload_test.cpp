// SIGHUP reload of the real daemon under live I/O: a LUN added (a Swift LUN, the first one, so
// the Swift client is created by the reload), a bad file refused with every error logged while
// everything keeps running, the LUN removed (drained to Swift and detached), then added back
// with an empty cache to prove Swift holds its data. A libiscsi session keeps writing and
// verifying LUN 0 all along and must see no error (unit attentions are retried, as initiators
// do; REPORTED LUNS DATA HAS CHANGED must be among them). CHAP and allowed initiators changed
// by a reload apply to new logins, and the session logged in before keeps working.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <random>
#include <thread>

#include "tests/integration/admin/admin_client.hpp"
#include "tests/integration/daemon/iscsi_client.hpp"
#include "tests/integration/support/process.hpp"
#include "tests/integration/support/wait.hpp"
#include "tests/integration/swift/swift_aio_env.hpp"

using namespace swiftness::testing;
using namespace std::chrono_literals;

namespace {

constexpr const char* kIqn = "iqn.2026-11.io.swiftness:reload";
constexpr int kReportedLunsChanged = 0x3f0e;

std::string base(const std::string& target_extra, const std::string& swift) {
  return std::string("target:\n  iqn: ") + kIqn + "\n  portals: [\"127.0.0.1:0\"]\n" +
         target_extra + swift +
         "cache:\n  path: '@DIR@/cache'\n  size: 64MiB\n  shutdown_drain_s: 60\n"
         "state_dir: '@DIR@/state'\n"
         "luns:\n  - {id: 0, name: disk0, backend: file, path: '@DIR@/disk0.img', size: 64MiB}\n";
}

std::optional<std::vector<uint64_t>> luns_of(const Daemon& d) {
  std::string err;
  auto c = IscsiClient::connect(d.portal(), kIqn, 0, &err);
  if (!c) return std::nullopt;
  return c->report_luns();
}

CommandResult rwverify(const Daemon& d, int lun, std::vector<std::string> args) {
  std::vector<std::string> argv{rwverify_binary(), "-q", "--timeout", "30"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(d.url(kIqn, lun));
  return run(argv, 120s);
}

// What the admin endpoint says about a LUN: in /status (by name) and in /metrics (by id).
struct Listed {
  bool status = false;
  bool metrics = false;
};
Listed listed(const Daemon& d, const std::string& name, const std::string& id) {
  const std::string sock = (d.dir() / "state" / "admin.sock").string();
  Listed l;
  auto st = unix_http(sock, "GET", "/status");
  auto me = unix_http(sock, "GET", "/metrics");
  l.status = st && st->body.find("\"name\":\"" + name + "\"") != std::string::npos;
  l.metrics = me && me->body.find("lun=\"" + id + "\"") != std::string::npos;
  return l;
}

}  // namespace

TEST(Reload, AddAndRemoveASwiftLunUnderLoadOnLunZero) {
  auto env = swift_aio_env();
  ASSERT_TRUE(env) << "the swift_aio fixture did not leave its environment file";
  std::random_device rd;
  const std::string container = "it-reload-" + std::to_string(rd()) + std::to_string(rd());
  const std::string swift = "swift:\n  auth_url: " + env->auth_url + "\n  user: \"" + env->user +
                            "\"\n  key: " + env->key + "\n";
  const std::string one = base("", swift);
  const std::string two = one + "  - {id: 1, name: vol1, backend: swift, container: " + container +
                          ", size: 64MiB, chunk_size: 1MiB}\n";
  TempDir dir;
  Daemon daemon(dir.path(), one);
  ASSERT_TRUE(daemon.start(60s)) << daemon.log();
  ASSERT_EQ(luns_of(daemon), (std::vector<uint64_t>{0}));

  std::string err;
  auto session = IscsiClient::connect(daemon.portal(), kIqn, 0, &err);
  ASSERT_TRUE(session) << err;
  VerifyingLoad load(std::move(session), 64 * 2048);
  ASSERT_TRUE(wait_until([&] { return load.ops() > 50; }, 30s)) << load.first_error();

  // 1. Add LUN 1.
  daemon.rewrite_config(two);
  ASSERT_TRUE(daemon.signal(SIGHUP));
  ASSERT_TRUE(wait_until(
      [&] {
        return luns_of(daemon) == std::vector<uint64_t>{0, 1};
      },
      60s))
      << daemon.log();
  auto w = rwverify(daemon, 1, {"--write-only", "--seed", "5", "--range", "0:16384"});
  ASSERT_EQ(w.exit_code, 0) << w.output << daemon.log();
  EXPECT_TRUE(listed(daemon, "vol1", "1").status) << "an added LUN is in /status";
  EXPECT_TRUE(listed(daemon, "vol1", "1").metrics) << "an added LUN is in /metrics";

  // 2. A bad file: every error logged, nothing changes.
  daemon.rewrite_config(two + "  - {id: 1, name: dup, backend: file, path: x, size: 1GiB}\n" +
                        "bogus: 1\n");
  ASSERT_TRUE(daemon.signal(SIGHUP));
  ASSERT_TRUE(
      wait_until([&] { return daemon.log().find("reload refused") != std::string::npos; }, 30s))
      << daemon.log();
  const std::string log = daemon.log();
  EXPECT_NE(log.find("swiftness.yaml:16:10: luns[2].id: duplicate LUN id 1"), std::string::npos)
      << log;
  EXPECT_NE(log.find("swiftness.yaml:17:1: bogus: unknown key"), std::string::npos) << log;
  EXPECT_TRUE(daemon.alive());
  EXPECT_EQ(luns_of(daemon), (std::vector<uint64_t>{0, 1}));
  auto v = rwverify(daemon, 1, {"--verify-only", "--seed", "5", "--range", "0:16384"});
  EXPECT_EQ(v.exit_code, 0) << v.output;

  // 3. Remove LUN 1: drained to Swift and detached.
  daemon.rewrite_config(one);
  ASSERT_TRUE(daemon.signal(SIGHUP));
  ASSERT_TRUE(wait_until(
      [&] { return daemon.log().find("LUN 1 (vol1) detached") != std::string::npos; }, 90s))
      << daemon.log();
  EXPECT_NE(daemon.log().find("LUN 1 (vol1): drained"), std::string::npos) << daemon.log();
  EXPECT_EQ(luns_of(daemon), (std::vector<uint64_t>{0}));
  EXPECT_FALSE(listed(daemon, "vol1", "1").status) << "a removed LUN leaves /status";
  EXPECT_FALSE(listed(daemon, "vol1", "1").metrics) << "a removed LUN leaves /metrics";
  EXPECT_TRUE(listed(daemon, "disk0", "0").status);

  // 4. Back again with its cache file gone: what it reads can only come from Swift.
  std::filesystem::remove_all(dir.path() / "cache");
  daemon.rewrite_config(two);
  ASSERT_TRUE(daemon.signal(SIGHUP));
  ASSERT_TRUE(wait_until(
      [&] {
        return luns_of(daemon) == std::vector<uint64_t>{0, 1};
      },
      60s))
      << daemon.log();
  auto v2 = rwverify(daemon, 1, {"--verify-only", "--seed", "5", "--range", "0:16384"});
  EXPECT_EQ(v2.exit_code, 0) << v2.output << daemon.log();

  load.stop();
  EXPECT_EQ(load.errors(), 0u) << load.first_error();
  EXPECT_GT(load.ops(), 100u);
  auto uas = load.unit_attentions();
  EXPECT_GE(uas[kReportedLunsChanged], 1) << "REPORTED LUNS DATA HAS CHANGED on LUN 0";
  for (const auto& [code, n] : uas)
    EXPECT_EQ(code, kReportedLunsChanged) << "unexpected unit attention " << std::hex << code;
  EXPECT_EQ(daemon.stop(90s), 0) << daemon.log();
  EXPECT_EQ(count(daemon.log(), "reload done"), 3u) << daemon.log();
}

TEST(Reload, ChapAndAllowedInitiatorsApplyToNewLoginsOnly) {
  TempDir dir;
  const std::string open = base("", "");
  Daemon daemon(dir.path(), open);
  ASSERT_TRUE(daemon.start(30s)) << daemon.log();
  std::string err;
  auto before = IscsiClient::connect(daemon.portal(), kIqn, 0, &err);
  ASSERT_TRUE(before) << err;

  daemon.rewrite_config(
      base("  chap: {user: alice, secret: alicesecret12}\n"
           "  allowed_initiators: [iqn.2026-11.io.swiftness:allowed]\n",
           ""));
  ASSERT_TRUE(daemon.signal(SIGHUP));
  ASSERT_TRUE(
      wait_until([&] { return daemon.log().find("reload done") != std::string::npos; }, 30s))
      << daemon.log();
  EXPECT_EQ(daemon.log().find("alicesecret12"), std::string::npos) << "a secret in the log";

  // The session from before is untouched.
  std::vector<uint8_t> buf(4096, 0x5a);
  EXPECT_TRUE(before->io(true, 0, buf).ok);
  // New logins: CHAP is now required, and only the allowed initiator gets in.
  EXPECT_FALSE(
      IscsiClient::connect(daemon.portal(), kIqn, 0, &err, "iqn.2026-11.io.swiftness:allowed"));
  EXPECT_FALSE(IscsiClient::connect(daemon.portal(), kIqn, 0, &err,
                                    "iqn.2026-11.io.swiftness:other", "alice", "alicesecret12"));
  EXPECT_TRUE(IscsiClient::connect(daemon.portal(), kIqn, 0, &err,
                                   "iqn.2026-11.io.swiftness:allowed", "alice", "alicesecret12"))
      << err;

  // A change that needs a restart is refused as a whole, naming it.
  std::string moved = open;
  moved.replace(moved.find("127.0.0.1:0"), 11, "127.0.0.1:1");
  daemon.rewrite_config(moved);
  ASSERT_TRUE(daemon.signal(SIGHUP));
  ASSERT_TRUE(wait_until(
      [&] {
        return daemon.log().find(
                   "target.portals: cannot change while "
                   "running; restart to apply") != std::string::npos;
      },
      30s))
      << daemon.log();
  // Still the CHAP of the last good reload.
  EXPECT_TRUE(IscsiClient::connect(daemon.portal(), kIqn, 0, &err,
                                   "iqn.2026-11.io.swiftness:allowed", "alice", "alicesecret12"))
      << err;
  EXPECT_TRUE(before->io(false, 0, buf).ok) << "the first session still works";

  // A CHAP guesser reconnecting in a loop must not flood the log: one limit for the target.
  const size_t logged_before = count(daemon.log(), "login failed");
  for (int i = 0; i < 60; ++i)
    EXPECT_FALSE(IscsiClient::connect(daemon.portal(), kIqn, 0, &err,
                                      "iqn.2026-11.io.swiftness:allowed", "alice",
                                      "guess" + std::to_string(100000000 + i)));
  EXPECT_LE(count(daemon.log(), "login failed") - logged_before, 20u) << daemon.log();
  before.reset();
  EXPECT_EQ(daemon.stop(30s), 0) << daemon.log();
}
