// The daemon with a Swift-backed LUN (the swift_aio fixture) whose cache directory lives on a
// small ext4 file system of the test's own (an image file, loop-mounted), under real kernel
// faults (issue 8, cache-device faults):
//  - the file system fills up: the cache file is preallocated, so what grows is the journal
//    (and the checkpoint written next to the old one); the LUN becomes write-protected with
//    DATA PROTECT, SPACE ALLOCATION FAILED WRITE PROTECT (27/07), reads go on; once there
//    is room again, writes resume without a restart;
//  - the file system goes read-only: `mount -o remount,ro` is refused by the kernel while files
//    are open for writing (EBUSY), so the test takes the path that really happens, ext4's
//    errors=remount-ro after a file-system error (sysfs trigger_fs_error);
//  - EIO: device-mapper is not in this kernel (no dm-error or dm-flakey), so the file system is
//    shut down with FS_IOC_SHUTDOWN (what xfstests' godown does; ext4 does the same on fatal
//    errors): every read and write of the cache files gets EIO from the kernel. Clean data is
//    then served from Swift, dirty data is MEDIUM ERROR, writes are MEDIUM ERROR.
// In each: no write the daemon could not store is acknowledged (every extent iscsi-rwverify
// logged as durable verifies after a restart), the failure is logged and counted in /metrics.
// Needs root (mount, loop devices); skipped with the reason otherwise.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <sys/ioctl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <regex>
#include <thread>

#include "tests/bench/iscsi/iscsi_session.hpp"
#include "tests/integration/admin/admin_client.hpp"
#include "tests/integration/support/process.hpp"
#include "tests/integration/swift/swift_aio_env.hpp"

using namespace swiftness::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr const char* kIqn = "iqn.2026-11.io.swiftness:cache-faults";
// Sense as iscsi-rwverify prints it.
constexpr const char* kSpaceAllocationFailed = "(0x7), ASC/ASCQ 0x27/0x07";
constexpr const char* kWriteProtected = "(0x7), ASC/ASCQ 0x27/0x00";
constexpr const char* kWriteError = "(0x3), ASC/ASCQ 0x0c/0x00";
constexpr const char* kUnrecoveredRead = "(0x3), ASC/ASCQ 0x11/0x00";

// <linux/fs.h> FS_IOC_SHUTDOWN and its NOLOGFLUSH flag (also EXT4_IOC_SHUTDOWN).
constexpr unsigned long kFsIocShutdown = _IOR('X', 125, uint32_t);
constexpr uint32_t kShutdownNoLogFlush = 2;

std::string unique_container() {
  std::random_device rd;
  return "it-cachedev-" + std::to_string(rd()) + std::to_string(rd());
}

// An ext4 image in the test's directory, loop-mounted (errors=remount-ro) at dir/mnt.
class LoopExt4 {
 public:
  LoopExt4(const fs::path& dir, int mib) : image_(dir / "cache.img"), mnt_(dir / "mnt") {
    if (::geteuid() != 0) {
      why_ = "needs root to loop-mount a file system";
      return;
    }
    fs::create_directories(mnt_);
    {
      std::ofstream(image_).close();
      fs::resize_file(image_, uint64_t(mib) << 20);
    }
    auto mk = run({"mkfs.ext4", "-q", "-F", "-m", "0", "-E", "nodiscard", image_.string()});
    if (mk.exit_code != 0) {
      why_ = "mkfs.ext4 failed: " + mk.output;
      return;
    }
    if (!mount()) why_ = "cannot loop-mount an ext4 image here: " + last_;
  }
  ~LoopExt4() {
    if (mounted_) (void)umount();
  }
  // Empty when usable, else why not (the test skips).
  const std::string& unusable() const { return why_; }
  const fs::path& mnt() const { return mnt_; }

  bool mount() {
    auto r = run({"mount", "-o", "loop,errors=remount-ro", image_.string(), mnt_.string()});
    last_ = r.output;
    mounted_ = r.exit_code == 0;
    return mounted_;
  }
  bool umount() {
    auto r = run({"umount", mnt_.string()});
    last_ = r.output;
    if (r.exit_code == 0) mounted_ = false;
    return !mounted_;
  }
  // e2fsck -fy after an error (exit 0: clean, 1: errors corrected).
  bool fsck() {
    auto r = run({"e2fsck", "-fy", image_.string()}, 120s);
    last_ = r.output;
    return r.exit_code == 0 || r.exit_code == 1;
  }
  // /sys/fs/ext4/<loopN> of the mounted image.
  fs::path sysfs() const {
    auto r = run({"findmnt", "-n", "-o", "SOURCE", mnt_.string()});
    std::string dev = r.output.substr(0, r.output.find('\n'));
    return fs::path("/sys/fs/ext4") / fs::path(dev).filename();
  }
  const std::string& last_output() const { return last_; }

 private:
  fs::path image_, mnt_;
  std::string why_, last_;
  bool mounted_ = false;
};

std::string config(const SwiftAioEnv& env, const std::string& container,
                   const std::string& cache_extra) {
  return std::string("target:\n  iqn: ") + kIqn +
         "\n  portals: [\"127.0.0.1:0\"]\n"
         "swift:\n  auth_url: " +
         env.auth_url + "\n  user: \"" + env.user + "\"\n  key: " + env.key +
         "\ncache:\n  path: '@DIR@/mnt/cache'\n  size: 32MiB\n  shutdown_drain_s: 5\n" +
         cache_extra +
         "state_dir: '@DIR@/state'\n"
         "luns:\n  - {id: 0, name: vol, backend: swift, container: " +
         container + ", size: 256MiB, block_size: 4096, chunk_size: 1MiB}\n";
}

CommandResult rwverify(const Daemon& d, std::vector<std::string> args,
                       std::chrono::seconds limit = 180s) {
  std::vector<std::string> argv{rwverify_binary(), "-q", "--timeout", "30"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(d.url(kIqn, 0));
  return run(argv, limit);
}

// One SYNCHRONIZE CACHE (10) to LUN 0: "GOOD", or how it failed.
std::string synchronize_cache(const Daemon& d) {
  swiftness::bench::ConnectOptions o;
  o.url = d.url(kIqn, 0);
  o.initiator_name = "iqn.2026-11.io.swiftness:cache-faults-sync";
  std::string err;
  auto s = swiftness::bench::IscsiSession::connect(o, &err);
  if (!s) return "login failed: " + err;
  scsi_task* t = iscsi_synchronizecache10_sync(s->ctx(), s->lun(), 0, 0, 0, 0);
  std::string out = t && t->status == SCSI_STATUS_GOOD
                        ? "GOOD"
                        : swiftness::bench::describe_failure(s->ctx(), t ? t->status : -1, t);
  if (t) scsi_free_scsi_task(t);
  return out;
}

Scrape metrics(const Daemon& d) {
  auto a = unix_http((d.dir() / "state" / "admin.sock").string(), "GET", "/metrics");
  return a ? parse_prometheus(a->body) : Scrape{};
}

size_t count_lines(const fs::path& file) {
  std::ifstream in(file);
  size_t n = 0;
  for (std::string line; std::getline(in, line);)
    ++n;
  return n;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

// Fills the file system but for about `leave` bytes (a file the test removes later). In
// halving steps, as the filler's own extent tree takes blocks too, and a fallocate that fails
// with ENOSPC keeps what it allocated.
bool fill(const fs::path& mnt, uint64_t leave) {
  int fd = ::open((mnt / "filler").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  uint64_t size = 0;
  bool ok = false;
  for (int i = 0; i < 64; ++i) {
    struct statvfs st {};
    if (::statvfs(mnt.c_str(), &st) != 0) break;
    // f_bavail: without ext4's blocks reserved for metadata (and, with mkfs -m 0, no blocks
    // reserved for root, who runs the daemon here).
    const uint64_t free_bytes = uint64_t(st.f_bavail) * st.f_frsize;
    if (free_bytes <= leave + (64 << 10)) {
      ok = true;
      break;
    }
    const uint64_t step = std::max<uint64_t>((free_bytes - leave) / 2, 64 << 10);
    if (::fallocate(fd, 0, off_t(size), off_t(step)) != 0) {
      ok = errno == ENOSPC;  // full already
      break;
    }
    size += step;
  }
  ::close(fd);
  return ok;
}

// Each test: a private directory, the ext4 image mounted in it, the daemon with its cache
// there. Members go in reverse: the daemon stops before the unmount, which is before the
// directory goes.
class CacheDeviceFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = swift_aio_env();
    ASSERT_TRUE(env_) << "the swift_aio fixture did not leave its environment file";
    if (!loop_.unusable().empty()) GTEST_SKIP() << loop_.unusable();
  }
  void start(int max_dirty_age_s) {
    daemon_ = std::make_unique<Daemon>(
        dir_.path(), config(*env_, unique_container(),
                            "  max_dirty_age_s: " + std::to_string(max_dirty_age_s) + "\n"));
    ASSERT_TRUE(daemon_->start(60s)) << daemon_->log();
  }

  TempDir dir_;
  LoopExt4 loop_{dir_.path(), 64};
  std::optional<SwiftAioEnv> env_;
  std::unique_ptr<Daemon> daemon_;
};

}  // namespace

TEST_F(CacheDeviceFaults, AFullFileSystemWriteProtectsTheLunAndLosesNothingAcknowledged) {
  ASSERT_NO_FATAL_FAILURE(start(2));
  Daemon& d = *daemon_;
  LoopExt4& loop = loop_;
  auto before = rwverify(d, {"--write-only", "--seed", "5", "--range", "0:2048"});
  ASSERT_EQ(before.exit_code, 0) << before.output << d.log();

  // Less than 64 KiB left. (With 1 MiB left nothing filled up in 150 s: the journal stays
  // small, as checkpoints start a new one every few MiB of overwrites, and each deletes the old.)
  ASSERT_TRUE(fill(loop.mnt(), 0));
  const fs::path ack = dir_.path() / "ack";
  auto load =
      rwverify(d,
               {"--write-only", "--passes", "0", "--sync-every", "64", "--fua", "mixed", "--xfer",
                "4k,64k", "--seed", "6", "--range", "4096:8192", "--ack-log", ack.string()},
               150s);
  ASSERT_EQ(load.exit_code, 4) << "the writer must stop at a refused write: " << load.output;
  const size_t acked_lines = count_lines(ack);
  std::printf("writer stopped after %zu durable extents: %s\n", acked_lines, load.output.c_str());
  EXPECT_GT(acked_lines, 10u) << "the file system filled before the test wrote anything" << d.log();
  EXPECT_NE(load.output.find(kSpaceAllocationFailed), std::string::npos) << load.output;
  // Every later write is refused the same way; reads go on.
  auto more = rwverify(d, {"--write-only", "--seed", "7", "--range", "20000:16"});
  EXPECT_EQ(more.exit_code, 4) << more.output;
  EXPECT_NE(more.output.find(kSpaceAllocationFailed), std::string::npos) << more.output;
  auto acked = rwverify(d, {"--verify-only", "--ack-log", ack.string()});
  EXPECT_EQ(acked.exit_code, 0) << acked.output;
  auto old = rwverify(d, {"--verify-only", "--seed", "5", "--range", "0:2048"});
  EXPECT_EQ(old.exit_code, 0) << old.output;

  const Scrape m = metrics(d);
  EXPECT_EQ(m.sum("swiftness_cache_writes_stopped", {{"lun", "0"}}), 1) << "no /metrics?";
  EXPECT_GE(m.sum("swiftness_cache_local_errors_total", {{"lun", "0"}}), 1);
  EXPECT_GE(m.sum("swiftness_lun_errors_total", {{"lun", "0"}, {"op", "write"}}), 2);
  const std::string log = d.log();
  EXPECT_NE(log.find("No space left on device"), std::string::npos) << log;
  // Which file ran out first (the journal, or a checkpoint written beside the old one).
  const size_t first = log.find("cache file ");
  if (first != std::string::npos) {
    std::printf("first failure: %s\n", log.substr(first, log.find('\n', first) - first).c_str());
  }
  // Logged, rate-limited: not one line per refused command.
  EXPECT_LE(count(log, "cache file"), 20u) << log;

  // Room again: writes resume without a restart once the daemon's probe sees it (probes 5 s
  // after the failure, then 10, 20, 40 s apart).
  fs::remove(loop.mnt() / "filler");
  const auto resumed_by = std::chrono::steady_clock::now() + 75s;
  while (metrics(d).sum("swiftness_cache_writes_stopped", {{"lun", "0"}}) != 0 &&
         std::chrono::steady_clock::now() < resumed_by) {
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(metrics(d).sum("swiftness_cache_writes_stopped", {{"lun", "0"}}), 0) << d.log();
  EXPECT_NE(d.log().find("writes resumed"), std::string::npos) << d.log();
  auto resumed = rwverify(d, {"--seed", "10", "--range", "40000:256"});
  EXPECT_EQ(resumed.exit_code, 0) << resumed.output << d.log();
  EXPECT_EQ(synchronize_cache(d), "GOOD");

  // And a restart: everything acknowledged is there, writes work.
  (void)d.stop(60s);
  ASSERT_TRUE(d.start(60s)) << d.log();
  auto after = rwverify(d, {"--verify-only", "--ack-log", ack.string()});
  EXPECT_EQ(after.exit_code, 0) << after.output << d.log();
  auto old2 = rwverify(d, {"--verify-only", "--seed", "5", "--range", "0:2048"});
  EXPECT_EQ(old2.exit_code, 0) << old2.output;
  auto since_resume = rwverify(d, {"--verify-only", "--seed", "10", "--range", "40000:256"});
  EXPECT_EQ(since_resume.exit_code, 0) << since_resume.output;
  auto fresh = rwverify(d, {"--seed", "8", "--range", "30000:512"});
  EXPECT_EQ(fresh.exit_code, 0) << fresh.output << d.log();
  EXPECT_EQ(d.stop(60s), 0) << d.log();
}

TEST_F(CacheDeviceFaults, AFileSystemGoneReadOnlyRefusesWritesAndKeepsServingReads) {
  ASSERT_NO_FATAL_FAILURE(start(2));
  Daemon& d = *daemon_;
  LoopExt4& loop = loop_;
  auto before = rwverify(d, {"--write-only", "--seed", "5", "--range", "0:2048"});
  ASSERT_EQ(before.exit_code, 0) << before.output << d.log();
  auto pending = rwverify(
      d, {"--write-only", "--seed", "9", "--range", "12288:64", "--fua", "never", "--no-sync"});
  ASSERT_EQ(pending.exit_code, 0) << pending.output << d.log();

  // What an operator would try first; the kernel refuses it while the daemon has its files
  // open for writing (EBUSY), so the read-only switch that really happens is ext4's own.
  auto remount = run({"mount", "-o", "remount,ro", loop.mnt().string()});
  std::printf("mount -o remount,ro: exit %d %s\n", remount.exit_code, remount.output.c_str());
  if (remount.exit_code != 0) {
    std::ofstream(loop.sysfs() / "trigger_fs_error") << "swiftness test: go read-only\n";
  }
  // (statvfs does not show ext4's emergency read-only state; creating a file does.)
  const int probe = ::open((loop.mnt() / "probe").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  const int probe_errno = errno;
  if (probe >= 0) ::close(probe);
  ASSERT_TRUE(probe < 0 && probe_errno == EROFS) << "the file system did not go read-only";

  // Written before the switch but not yet synchronized (WCE=1): SYNCHRONIZE CACHE must not
  // claim them durable now (the kernel dropped those dirty pages: fdatasync says EROFS).
  const auto sync = synchronize_cache(d);
  EXPECT_NE(sync.find(kWriteProtected), std::string::npos) << sync;

  auto w = rwverify(d, {"--write-only", "--seed", "6", "--range", "8192:64", "--fua", "always"});
  EXPECT_EQ(w.exit_code, 4) << "a write was acknowledged on a read-only cache: " << w.output;
  EXPECT_NE(w.output.find(kWriteProtected), std::string::npos) << w.output;
  std::printf("after the switch: SYNCHRONIZE CACHE: %s\nwrite: %s\n", sync.c_str(),
              w.output.c_str());
  auto r = rwverify(d, {"--verify-only", "--seed", "5", "--range", "0:2048"});
  EXPECT_EQ(r.exit_code, 0) << r.output << d.log();
  const Scrape m = metrics(d);
  EXPECT_GE(m.sum("swiftness_cache_local_errors_total", {{"lun", "0"}}), 1) << "no /metrics?";
  EXPECT_NE(d.log().find("Read-only file system"), std::string::npos) << d.log();

  (void)d.stop(60s);
  ASSERT_TRUE(loop.umount()) << loop.last_output();
  ASSERT_TRUE(loop.fsck()) << loop.last_output();
  ASSERT_TRUE(loop.mount()) << loop.last_output();
  ASSERT_TRUE(d.start(60s)) << d.log();
  auto again = rwverify(d, {"--verify-only", "--seed", "5", "--range", "0:2048"});
  EXPECT_EQ(again.exit_code, 0) << again.output << d.log();
  auto fresh = rwverify(d, {"--seed", "8", "--range", "8192:64"});
  EXPECT_EQ(fresh.exit_code, 0) << fresh.output << d.log();
  EXPECT_EQ(d.stop(60s), 0) << d.log();
}

TEST_F(CacheDeviceFaults, EioServesCleanDataFromSwiftAndNeverAcknowledgesAWrite) {
  // Nothing uploads by itself, so what the test drains is clean and what it writes after
  // stays dirty.
  ASSERT_NO_FATAL_FAILURE(start(3600));
  Daemon& d = *daemon_;
  LoopExt4& loop = loop_;
  const std::string sock = (dir_.path() / "state" / "admin.sock").string();
  auto a = rwverify(d, {"--write-only", "--seed", "5", "--range", "0:1024"});
  ASSERT_EQ(a.exit_code, 0) << a.output << d.log();
  auto drained = run({swiftness_binary(), "cache", "drain", "--socket", sock, "--timeout", "60"});
  ASSERT_EQ(drained.exit_code, 0) << drained.output << d.log();
  auto b = rwverify(d, {"--write-only", "--seed", "6", "--range", "4096:256"});
  ASSERT_EQ(b.exit_code, 0) << b.output << d.log();

  const int mfd = ::open(loop.mnt().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(mfd, 0);
  uint32_t how = kShutdownNoLogFlush;
  const int shut = ::ioctl(mfd, kFsIocShutdown, &how);
  ::close(mfd);
  if (shut != 0) GTEST_SKIP() << "FS_IOC_SHUTDOWN refused: " << std::strerror(errno);

  // Clean data: the cache file answers EIO, Swift holds the same bytes.
  auto ra = rwverify(d, {"--verify-only", "--seed", "5", "--range", "0:1024"});
  EXPECT_EQ(ra.exit_code, 0) << ra.output << d.log();
  // Dirty data exists only in the cache file: MEDIUM ERROR, never other bytes.
  auto rb = rwverify(d, {"--verify-only", "--seed", "6", "--range", "4096:256"});
  EXPECT_EQ(rb.exit_code, 4) << "exit 1 would mean wrong bytes were served: " << rb.output;
  EXPECT_NE(rb.output.find(kUnrecoveredRead), std::string::npos) << rb.output;
  auto w = rwverify(d, {"--write-only", "--seed", "7", "--range", "8192:64", "--fua", "always"});
  EXPECT_EQ(w.exit_code, 4) << "a write was acknowledged on a failing cache: " << w.output;
  EXPECT_NE(w.output.find(kWriteError), std::string::npos) << w.output;
  std::printf("after EIO: dirty read: %swrite: %s\n", rb.output.c_str(), w.output.c_str());
  const Scrape m = metrics(d);
  EXPECT_GE(m.sum("swiftness_cache_swift_read_fallbacks_total", {{"lun", "0"}}), 1024)
      << "no /metrics?";
  EXPECT_GE(m.sum("swiftness_cache_local_errors_total", {{"lun", "0"}}), 2);
  EXPECT_NE(d.log().find("Input/output error"), std::string::npos) << d.log();

  // The device comes back (remount): what was synchronized before the fault is all there.
  (void)d.stop(60s);
  ASSERT_TRUE(loop.umount()) << loop.last_output();
  ASSERT_TRUE(loop.mount()) << loop.last_output();
  ASSERT_TRUE(d.start(60s)) << d.log();
  auto a2 = rwverify(d, {"--verify-only", "--seed", "5", "--range", "0:1024"});
  EXPECT_EQ(a2.exit_code, 0) << a2.output << d.log();
  auto b2 = rwverify(d, {"--verify-only", "--seed", "6", "--range", "4096:256"});
  EXPECT_EQ(b2.exit_code, 0) << b2.output << d.log();
  EXPECT_EQ(d.stop(60s), 0) << d.log();
}
