// The daemon with a Swift-backed LUN (the swift_aio fixture) whose cache file is damaged under
// it (issue 8, corruption): the test flips a byte of the page holding a block it wrote, with
// pwrite on the cache file (the daemon reads through the page cache, so it sees the change),
// then reads the block through libiscsi. The flipped bytes must never come back:
//  - the block is clean (in Swift): the initiator gets the right data, from the chunk object;
//  - the block is dirty (only in the cache): CHECK CONDITION, MEDIUM ERROR, UNRECOVERED READ
//    ERROR (03/11/00), until the initiator writes the block again.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "tests/bench/iscsi/iscsi_session.hpp"
#include "tests/integration/admin/admin_client.hpp"
#include "tests/integration/support/process.hpp"
#include "tests/integration/support/swift_lun_config.hpp"
#include "tests/integration/swift/swift_aio_env.hpp"

using namespace swiftness::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr const char* kIqn = "iqn.2026-11.io.swiftness:cache-corruption";
constexpr uint32_t kBlock = 4096;

std::string unique_container() {
  std::random_device rd;
  return "it-corrupt-" + std::to_string(rd()) + std::to_string(rd());
}

// A block no other block of the test has: its LBA and a tag, then noise from a seeded PRNG.
std::vector<uint8_t> block_bytes(uint32_t lba, uint8_t tag) {
  std::vector<uint8_t> b(kBlock);
  std::mt19937_64 rng(uint64_t(lba) << 8 | tag);
  for (size_t i = 0; i < b.size(); i += 8) {
    const uint64_t v = rng();
    std::memcpy(b.data() + i, &v, 8);
  }
  std::memcpy(b.data(), &lba, 4);
  b[4] = tag;
  return b;
}

class Session {
 public:
  explicit Session(const Daemon& d) {
    swiftness::bench::ConnectOptions o;
    o.url = d.url(kIqn, 0);
    o.initiator_name = "iqn.2026-11.io.swiftness:cache-corruption-init";
    s_ = swiftness::bench::IscsiSession::connect(o, &error_);
  }
  bool ok() const { return s_ != nullptr; }
  const std::string& error() const { return error_; }

  // "GOOD" or how the command failed.
  std::string write(uint32_t lba, std::vector<uint8_t> data) {
    scsi_task* t = iscsi_write10_sync(s_->ctx(), s_->lun(), lba, data.data(), uint32_t(data.size()),
                                      kBlock, 0, 0, 0, 0, 0);
    return finish(t);
  }
  std::string sync() {
    return finish(iscsi_synchronizecache10_sync(s_->ctx(), s_->lun(), 0, 0, 0, 0));
  }
  // The block's bytes, or nullopt with *how set (sense key and ASC/ASCQ).
  std::optional<std::vector<uint8_t>> read(uint32_t lba, std::string* how, int* key = nullptr,
                                           int* ascq = nullptr) {
    scsi_task* t = iscsi_read10_sync(s_->ctx(), s_->lun(), lba, kBlock, kBlock, 0, 0, 0, 0, 0);
    if (t && t->status == SCSI_STATUS_GOOD && t->datain.size == int(kBlock)) {
      std::vector<uint8_t> out(t->datain.data, t->datain.data + kBlock);
      scsi_free_scsi_task(t);
      return out;
    }
    if (key) *key = t ? int(t->sense.key) : -1;
    if (ascq) *ascq = t ? t->sense.ascq : -1;
    *how = finish(t);
    return std::nullopt;
  }

 private:
  std::string finish(scsi_task* t) {
    std::string out = t && t->status == SCSI_STATUS_GOOD
                          ? "GOOD"
                          : swiftness::bench::describe_failure(s_->ctx(), t ? t->status : -1, t);
    if (t) scsi_free_scsi_task(t);
    return out;
  }
  std::unique_ptr<swiftness::bench::IscsiSession> s_;
  std::string error_;
};

// The offset of the page of `file` that holds `block`, if one does.
std::optional<off_t> find_in_cache_file(const fs::path& file, const std::vector<uint8_t>& block) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::vector<uint8_t> page(kBlock);
  std::optional<off_t> found;
  for (off_t off = 0; !found; off += kBlock) {
    if (::pread(fd, page.data(), kBlock, off) != ssize_t(kBlock)) break;
    if (std::memcmp(page.data(), block.data(), kBlock) == 0) found = off;
  }
  ::close(fd);
  return found;
}

// Flips one byte of the page of `file` that holds `block`; false if no page does.
bool flip_in_cache_file(const fs::path& file, const std::vector<uint8_t>& block) {
  const auto off = find_in_cache_file(file, block);
  int fd = off ? ::open(file.c_str(), O_RDWR | O_CLOEXEC) : -1;
  if (fd < 0) return false;
  uint8_t b = 0;
  bool done = ::pread(fd, &b, 1, *off + 1000) == 1;
  b ^= 0x10;
  done = done && ::pwrite(fd, &b, 1, *off + 1000) == 1;
  ::close(fd);
  return done;
}

double metric(const Daemon& d, const std::string& name) {
  auto a = unix_http((d.dir() / "state" / "admin.sock").string(), "GET", "/metrics");
  return a ? parse_prometheus(a->body).sum(name, {{"lun", "0"}}) : -1;
}

class CacheCorruption : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = swift_aio_env();
    ASSERT_TRUE(env_) << "the swift_aio fixture did not leave its environment file";
  }
  // max_dirty_age_s 1: written blocks are soon clean; 3600: they stay dirty.
  void start(int max_dirty_age_s) {
    container_ = unique_container();
    SwiftLunConfig c;
    c.iqn = kIqn;
    c.container = container_;
    c.size = "64MiB";
    c.cache_size = "32MiB";
    std::string yaml = swift_lun_yaml(*env_, c);
    const std::string age = "max_dirty_age_s: 1";
    yaml.replace(yaml.find(age), age.size(), "max_dirty_age_s: " + std::to_string(max_dirty_age_s));
    daemon_ = std::make_unique<Daemon>(dir_.path(), yaml);
    ASSERT_TRUE(daemon_->start(60s)) << daemon_->log();
  }
  fs::path cache_file() const { return dir_.path() / "cache" / (container_ + ".data"); }

  TempDir dir_;
  std::optional<SwiftAioEnv> env_;
  std::string container_;
  std::unique_ptr<Daemon> daemon_;
};

}  // namespace

TEST_F(CacheCorruption, AFlippedCleanBlockIsServedFromSwiftNeverTheFlippedBytes) {
  ASSERT_NO_FATAL_FAILURE(start(1));
  Daemon& d = *daemon_;
  Session s(d);
  ASSERT_TRUE(s.ok()) << s.error();
  const auto good = block_bytes(300, 1);
  ASSERT_EQ(s.write(300, good), "GOOD");
  ASSERT_EQ(s.write(301, block_bytes(301, 1)), "GOOD");
  ASSERT_EQ(s.sync(), "GOOD");
  // Clean once the flusher has uploaded the chunk (max_dirty_age_s 1).
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (metric(d, "swiftness_cache_dirty_bytes") != 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(100ms);
  ASSERT_EQ(metric(d, "swiftness_cache_dirty_bytes"), 0) << d.log();

  ASSERT_TRUE(flip_in_cache_file(cache_file(), good)) << "no page of the cache file holds it";
  std::string how;
  auto got = s.read(300, &how);
  ASSERT_TRUE(got) << how << d.log();
  EXPECT_TRUE(*got == good) << "the read returned other bytes than were written";
  auto next = s.read(301, &how);
  ASSERT_TRUE(next) << how;
  EXPECT_TRUE(*next == block_bytes(301, 1));
  // The page was rewritten from Swift: the cache file holds the right bytes again.
  ASSERT_TRUE(flip_in_cache_file(cache_file(), good)) << "the page was not repaired";
  got = s.read(300, &how);
  ASSERT_TRUE(got) << how;
  EXPECT_TRUE(*got == good);
  EXPECT_NE(d.log().find("fails its CRC32C"), std::string::npos) << d.log();
  // Two flips, two repairs.
  EXPECT_EQ(metric(d, "swiftness_cache_page_crc_failures_total"), 2);
  EXPECT_EQ(metric(d, "swiftness_cache_page_crc_repairs_total"), 2);
  EXPECT_EQ(d.stop(60s), 0) << d.log();
}

TEST_F(CacheCorruption, AFlippedDirtyBlockIsAMediumErrorUntilItIsWrittenAgain) {
  ASSERT_NO_FATAL_FAILURE(start(3600));
  Daemon& d = *daemon_;
  Session s(d);
  ASSERT_TRUE(s.ok()) << s.error();
  const auto first = block_bytes(700, 1);
  ASSERT_EQ(s.write(700, first), "GOOD");
  ASSERT_EQ(s.sync(), "GOOD");
  ASSERT_GT(metric(d, "swiftness_cache_dirty_bytes"), 0) << "the block must still be dirty";

  ASSERT_TRUE(flip_in_cache_file(cache_file(), first)) << "no page of the cache file holds it";
  for (int i = 0; i < 2; ++i) {  // every read, not only the first
    std::string how;
    int key = 0, ascq = 0;
    auto got = s.read(700, &how, &key, &ascq);
    ASSERT_FALSE(got) << "the flipped bytes were served as data";
    EXPECT_EQ(key, SCSI_SENSE_MEDIUM_ERROR) << how;
    EXPECT_EQ(ascq, 0x1100) << how;  // UNRECOVERED READ ERROR
  }
  EXPECT_NE(d.log().find("its only copy is damaged"), std::string::npos) << d.log();
  EXPECT_EQ(metric(d, "swiftness_cache_damaged_dirty_blocks"), 1);
  auto status = unix_http((d.dir() / "state" / "admin.sock").string(), "GET", "/status");
  ASSERT_TRUE(status);
  EXPECT_NE(status->body.find("\"damaged_dirty_blocks\":1"), std::string::npos) << status->body;

  // A write over the block heals it.
  const auto second = block_bytes(700, 2);
  ASSERT_EQ(s.write(700, second), "GOOD");
  std::string how;
  auto got = s.read(700, &how);
  ASSERT_TRUE(got) << how;
  EXPECT_TRUE(*got == second);
  EXPECT_EQ(metric(d, "swiftness_cache_damaged_dirty_blocks"), 0);
  // SIGTERM drains: nothing is left that could not reach Swift.
  EXPECT_EQ(d.stop(120s), 0) << d.log();
  EXPECT_NE(d.log().find("drained"), std::string::npos) << d.log();
}

// A write made durable by SYNCHRONIZE CACHE, then kill -9 before any checkpoint holds it: only
// the journal has it. Its page flipped while the daemon is down must not make the replay drop
// the write as torn (which would serve the block's previous content, still in the cache file):
// MEDIUM ERROR until it is written again.
TEST_F(CacheCorruption, ADurableWriteFlippedWhileTheDaemonIsDownIsAMediumErrorNotTheOldContent) {
  ASSERT_NO_FATAL_FAILURE(start(3600));
  Daemon& d = *daemon_;
  const auto old = block_bytes(900, 1);
  const auto durable = block_bytes(900, 2);
  const auto next = block_bytes(901, 2);
  {
    Session s(d);
    ASSERT_TRUE(s.ok()) << s.error();
    ASSERT_EQ(s.write(900, old), "GOOD");
    ASSERT_EQ(s.sync(), "GOOD");
    ASSERT_EQ(s.write(900, durable), "GOOD");
    ASSERT_EQ(s.write(901, next), "GOOD");
    ASSERT_EQ(s.sync(), "GOOD");
  }
  d.kill9();
  // No checkpoint since the one at start (it would have started journal 2): only journal 1
  // holds these writes.
  const fs::path cache = dir_.path() / "cache";
  ASSERT_TRUE(fs::exists(cache / (container_ + ".journal.1")));
  ASSERT_FALSE(fs::exists(cache / (container_ + ".journal.2")));
  ASSERT_TRUE(flip_in_cache_file(cache_file(), durable)) << "no page of the cache file holds it";
  // The previous content is still in the cache file: what a replay that took the damaged write
  // for a torn one would serve.
  ASSERT_TRUE(find_in_cache_file(cache_file(), old));

  ASSERT_TRUE(d.start(60s)) << d.log();
  EXPECT_NE(d.log().find("fails its CRC32C on journal replay"), std::string::npos) << d.log();
  EXPECT_NE(d.log().find("1 with damaged pages"), std::string::npos) << d.log();
  EXPECT_EQ(metric(d, "swiftness_cache_damaged_dirty_blocks"), 1);
  Session s(d);
  ASSERT_TRUE(s.ok()) << s.error();
  for (int i = 0; i < 2; ++i) {
    std::string how;
    int key = 0, ascq = 0;
    auto got = s.read(900, &how, &key, &ascq);
    ASSERT_FALSE(got) << (*got == old ? "the previous content was served: a durable write was "
                                        "silently reverted"
                                      : "other bytes were served");
    EXPECT_EQ(key, SCSI_SENSE_MEDIUM_ERROR) << how;
    EXPECT_EQ(ascq, 0x1100) << how;  // UNRECOVERED READ ERROR
  }
  std::string how;
  auto got = s.read(901, &how);  // the rest of what was made durable is there
  ASSERT_TRUE(got) << how;
  EXPECT_TRUE(*got == next);

  const auto healed = block_bytes(900, 3);
  ASSERT_EQ(s.write(900, healed), "GOOD");
  got = s.read(900, &how);
  ASSERT_TRUE(got) << how;
  EXPECT_TRUE(*got == healed);
  EXPECT_EQ(metric(d, "swiftness_cache_damaged_dirty_blocks"), 0);
  EXPECT_EQ(d.stop(120s), 0) << d.log();
  EXPECT_NE(d.log().find("drained"), std::string::npos) << d.log();
}
