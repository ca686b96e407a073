// The daemon with a Swift-backed LUN against the real Swift of the `swift_aio` fixture: data
// acknowledged as durable survives kill -9, reaches Swift on SIGTERM, and a gateway with an
// empty cache reads it back from Swift alone, showing the same disk identity.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "tests/integration/support/process.hpp"
#include "tests/integration/swift/swift_aio_env.hpp"

using namespace swiftness::testing;
using namespace std::chrono_literals;

namespace {

constexpr const char* kIqn = "iqn.2026-11.io.swiftness:swift-it";

std::string unique_container() {
  std::random_device rd;
  return "it-daemon-" + std::to_string(rd()) + std::to_string(rd());
}

std::string config(const SwiftAioEnv& env, const std::string& container) {
  return std::string("target:\n  iqn: ") + kIqn +
         "\n  portals: [\"127.0.0.1:0\"]\n"
         "swift:\n  auth_url: " +
         env.auth_url + "\n  user: \"" + env.user + "\"\n  key: " + env.key +
         "\ncache:\n  path: '@DIR@/cache'\n  size: 256MiB\n  shutdown_drain_s: 60\n"
         "state_dir: '@DIR@/state'\n"
         "luns:\n  - {id: 0, name: vol, backend: swift, container: " +
         container + ", size: 512MiB, chunk_size: 1MiB}\n";
}

CommandResult rwverify(const Daemon& d, std::vector<std::string> args) {
  std::vector<std::string> argv{rwverify_binary(), "-q", "--timeout", "30"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(d.url(kIqn, 0));
  return run(argv, 180s);
}

std::string device_id(const Daemon& d) {
  return run({"iscsi-inq", "-e", "1", "-c", "131", d.url(kIqn, 0)}).output;
}

}  // namespace

TEST(SwiftLun, DurableWritesSurviveKillNineAndReadBackFromSwiftAlone) {
  auto env = swift_aio_env();
  ASSERT_TRUE(env) << "the swift_aio fixture did not leave its environment file";
  TempDir dir;
  Daemon daemon(dir.path(), config(*env, unique_container()));
  ASSERT_TRUE(daemon.start(60s)) << daemon.log();
  std::string id = device_id(daemon);
  ASSERT_NE(id.find("NAA"), std::string::npos) << id;

  // Written with FUA or followed by SYNCHRONIZE CACHE: must survive kill -9.
  auto w =
      rwverify(daemon, {"--write-only", "--seed", "11", "--range", "0:65536", "--xfer", "4k,1m"});
  ASSERT_EQ(w.exit_code, 0) << w.output << daemon.log();
  daemon.kill9();
  ASSERT_TRUE(daemon.start(60s)) << daemon.log();
  auto v1 = rwverify(daemon, {"--verify-only", "--seed", "11", "--range", "0:65536"});
  EXPECT_EQ(v1.exit_code, 0) << v1.output << daemon.log();

  // SIGTERM drains to Swift; a gateway with an empty cache then has only Swift to read from.
  EXPECT_EQ(daemon.stop(90s), 0) << daemon.log();
  std::filesystem::remove_all(dir.path() / "cache");
  std::filesystem::remove_all(dir.path() / "state");
  ASSERT_TRUE(daemon.start(60s)) << daemon.log();
  auto v2 = rwverify(daemon, {"--verify-only", "--seed", "11", "--range", "0:65536"});
  EXPECT_EQ(v2.exit_code, 0) << v2.output << daemon.log();
  EXPECT_EQ(device_id(daemon), id) << "the disk's identity must come from Swift";
  // Never-written blocks of a thin Swift LUN read as zeros.
  auto zeros = rwverify(daemon, {"--verify-only", "--seed", "11", "--range", "65536:2048"});
  EXPECT_EQ(zeros.exit_code, 1) << "blocks never written must not verify as pattern data";
  EXPECT_NE(zeros.output.find("all zeros"), std::string::npos) << zeros.output;
}
