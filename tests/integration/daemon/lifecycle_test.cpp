// The daemon's life as systemd and an administrator see it: READY=1 on $NOTIFY_SOCKET once the
// portal listens, STOPPING=1 at SIGTERM; SIGTERM drains dirty data to the real Swift (the
// swift_aio fixture) up to cache.shutdown_drain_s and exits 0; data still dirty at the deadline
// stays in the cache journal and is there at the next start.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "tests/integration/support/process.hpp"
#include "tests/integration/swift/swift_aio_env.hpp"

using namespace swiftness::testing;
using namespace std::chrono_literals;

namespace {

constexpr const char* kIqn = "iqn.2026-11.io.swiftness:lifecycle";

CommandResult rwverify(const Daemon& d, std::vector<std::string> args) {
  std::vector<std::string> argv{rwverify_binary(), "-q", "--timeout", "30"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(d.url(kIqn, 0));
  return run(argv, 180s);
}

std::string swift_config(const SwiftAioEnv& env, const std::string& container, int drain_s) {
  // The flusher is kept idle (dirty data would wait an hour and the low watermark is never
  // reached), so only the shutdown drain can move the data to Swift.
  return std::string("target:\n  iqn: ") + kIqn +
         "\n  portals: [\"127.0.0.1:0\"]\n"
         "swift:\n  auth_url: " +
         env.auth_url + "\n  user: \"" + env.user + "\"\n  key: " + env.key +
         "\ncache:\n  path: '@DIR@/cache'\n  size: 256MiB\n  max_dirty_age_s: 3600\n"
         "  dirty_high_watermark: 100\n  dirty_low_watermark: 99\n"
         "  shutdown_drain_s: " +
         std::to_string(drain_s) +
         "\nstate_dir: '@DIR@/state'\n"
         "luns:\n  - {id: 0, name: vol, backend: swift, container: " +
         container + ", size: 256MiB, chunk_size: 1MiB}\n";
}

// A unix datagram socket standing in for systemd's notification socket.
class NotifySocket {
 public:
  explicit NotifySocket(const std::filesystem::path& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    bound_ = bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~NotifySocket() {
    close(fd_);
    std::filesystem::remove(path_);
  }
  bool bound() const { return bound_; }
  // The next datagram, or "" after `limit`.
  std::string next(std::chrono::milliseconds limit) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, int(limit.count())) != 1) return "";
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, size_t(n)) : "";
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  bool bound_ = false;
};

bool tcp_connects(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

}  // namespace

TEST(Lifecycle, NotifiesReadyOnceListeningAndStoppingAtSigterm) {
  TempDir dir;
  NotifySocket sock(dir.path() / "notify");
  ASSERT_TRUE(sock.bound());
  // Inherited by the daemon; each test runs in its own process (gtest_discover_tests).
  setenv("NOTIFY_SOCKET", (dir.path() / "notify").c_str(), 1);
  Daemon daemon(dir.path(), std::string("target:\n  iqn: ") + kIqn +
                                "\n  portals: [\"127.0.0.1:0\"]\nstate_dir: '@DIR@/state'\n"
                                "luns:\n  - {id: 0, name: d, backend: file, path: "
                                "'@DIR@/d.img', size: 64MiB}\n");
  ASSERT_TRUE(daemon.start(30s)) << daemon.log();
  unsetenv("NOTIFY_SOCKET");
  std::string ready = sock.next(10s);
  ASSERT_NE(ready.find("READY=1"), std::string::npos) << ready;
  // The status names the bound portal: it must accept connections by the time READY=1 is sent.
  auto at = ready.find("127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << ready;
  uint16_t port = uint16_t(std::stoi(ready.substr(at + 10)));
  EXPECT_EQ(port, daemon.port());
  EXPECT_TRUE(tcp_connects(port));
  EXPECT_NE(ready.find("MAINPID=" + std::to_string(daemon.pid())), std::string::npos) << ready;

  ASSERT_TRUE(daemon.signal(SIGHUP));
  std::string reloading = sock.next(10s);
  EXPECT_NE(reloading.find("RELOADING=1"), std::string::npos) << reloading;
  std::string reloaded = sock.next(10s);
  EXPECT_NE(reloaded.find("READY=1"), std::string::npos) << reloaded;

  ASSERT_TRUE(daemon.signal(SIGTERM));
  std::string stopping = sock.next(10s);
  EXPECT_NE(stopping.find("STOPPING=1"), std::string::npos) << stopping;
  EXPECT_EQ(daemon.stop(30s), 0) << daemon.log();
}

TEST(Lifecycle, SigtermDrainsToSwiftAndWhatMissesTheDeadlineStaysInTheJournal) {
  auto env = swift_aio_env();
  ASSERT_TRUE(env) << "the swift_aio fixture did not leave its environment file";
  std::random_device rd;
  const std::string container = "it-drain-" + std::to_string(rd()) + std::to_string(rd());
  TempDir dir;

  // 1. No time to drain: exit 0 at once, the data stays dirty in the cache.
  Daemon daemon(dir.path(), swift_config(*env, container, 0));
  ASSERT_TRUE(daemon.start(60s)) << daemon.log();
  auto w =
      rwverify(daemon, {"--write-only", "--seed", "21", "--range", "0:32768", "--xfer", "64k,1m"});
  ASSERT_EQ(w.exit_code, 0) << w.output << daemon.log();
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(daemon.stop(60s), 0) << daemon.log();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);
  EXPECT_NE(daemon.log().find("bytes still dirty"), std::string::npos) << daemon.log();

  // 2. The next start finds it in the journal; this time SIGTERM has a minute to drain.
  daemon.rewrite_config(swift_config(*env, container, 60));
  ASSERT_TRUE(daemon.start(60s)) << daemon.log();
  auto v1 = rwverify(daemon, {"--verify-only", "--seed", "21", "--range", "0:32768"});
  EXPECT_EQ(v1.exit_code, 0) << v1.output << daemon.log();
  EXPECT_EQ(daemon.stop(90s), 0) << daemon.log();
  EXPECT_NE(daemon.log().find("LUN 0 (vol): drained"), std::string::npos) << daemon.log();

  // 3. A gateway with an empty cache: only Swift can answer.
  std::filesystem::remove_all(dir.path() / "cache");
  std::filesystem::remove_all(dir.path() / "state");
  ASSERT_TRUE(daemon.start(60s)) << daemon.log();
  auto v2 = rwverify(daemon, {"--verify-only", "--seed", "21", "--range", "0:32768"});
  EXPECT_EQ(v2.exit_code, 0) << v2.output << daemon.log();
  EXPECT_EQ(daemon.stop(60s), 0) << daemon.log();
}
