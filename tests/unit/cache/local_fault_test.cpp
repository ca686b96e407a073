// CachedLun when its own cache files fail (issue 8, cache-device faults): a full file system,
// one gone read-only, EIO. What the initiator is told, what keeps working, what is counted, and
// that nothing acknowledged as durable is lost. The real-kernel versions of these faults run
// against the daemon in tests/integration/cache/cache_device_fault_test.cpp.
#include <gtest/gtest.h>

#include <cerrno>
#include <mutex>

#include "cache/cached_lun.hpp"
#include "tests/unit/cache/lun_fixture.hpp"

namespace swiftness::test {
namespace {

using core::block_errc;

// A FileSystem decorator that fails the writes and syncs (or the reads) of files whose name
// contains a given part with a given errno, as the kernel would (ENOSPC, EROFS, EIO).
class ErrnoFs final : public cache::FileSystem {
 public:
  explicit ErrnoFs(std::shared_ptr<cache::FileSystem> inner) : inner_(std::move(inner)) {}

  struct Rule {
    std::string name_part;  // "" matches no file
    int err = 0;
  };
  void fail_writes(std::string part, int err) { set(writes_, std::move(part), err); }
  void fail_reads(std::string part, int err) { set(reads_, std::move(part), err); }
  void heal() {
    set(writes_, "", 0);
    set(reads_, "", 0);
  }

  core::Result<std::unique_ptr<cache::File>> open(const std::string& name, bool create,
                                                  bool direct) override {
    // Creating an empty file still works on a full file system (there are inodes left);
    // writing to it does not.
    auto f = inner_->open(name, create, direct);
    if (!f) return f.error();
    return std::unique_ptr<cache::File>(new Wrapped(this, name, std::move(*f)));
  }
  bool exists(const std::string& name) override { return inner_->exists(name); }
  core::Result<void> rename(const std::string& from, const std::string& to) override {
    return inner_->rename(from, to);
  }
  core::Result<void> remove(const std::string& name) override { return inner_->remove(name); }
  core::Result<void> sync_dir() override { return inner_->sync_dir(); }

 private:
  class Wrapped final : public cache::File {
   public:
    Wrapped(ErrnoFs* fs, std::string name, std::unique_ptr<cache::File> f)
        : fs_(fs), name_(std::move(name)), f_(std::move(f)) {}
    core::Result<void> pwrite(uint64_t off, std::span<const std::byte> d) override {
      if (int e = fs_->match(fs_->writes_, name_))
        return std::error_code(e, std::generic_category());
      return f_->pwrite(off, d);
    }
    core::Result<void> pread(uint64_t off, std::span<std::byte> out) override {
      if (int e = fs_->match(fs_->reads_, name_))
        return std::error_code(e, std::generic_category());
      return f_->pread(off, out);
    }
    core::Result<void> sync() override {
      if (int e = fs_->match(fs_->writes_, name_))
        return std::error_code(e, std::generic_category());
      return f_->sync();
    }
    core::Result<uint64_t> size() override { return f_->size(); }
    core::Result<void> preallocate(uint64_t bytes) override { return f_->preallocate(bytes); }

   private:
    ErrnoFs* fs_;
    std::string name_;
    std::unique_ptr<cache::File> f_;
  };

  void set(Rule& r, std::string part, int err) {
    std::lock_guard lock(mu_);
    r = {std::move(part), err};
  }
  int match(const Rule& r, const std::string& name) {
    std::lock_guard lock(mu_);
    return (!r.name_part.empty() && name.find(r.name_part) != std::string::npos) ? r.err : 0;
  }

  std::shared_ptr<cache::FileSystem> inner_;
  std::mutex mu_;
  Rule writes_, reads_;
};

class LocalFaultTest : public LunFixture {
 protected:
  // Most tests look at the stopped state itself; the resume tests set an interval.
  LocalFaultTest() { cache_.resume_probe_interval = std::chrono::milliseconds(0); }

  std::shared_ptr<ErrnoFs> efs_ = std::make_shared<ErrnoFs>(fs_);

  std::shared_ptr<cache::CachedLun> open_errno() {
    cache::CachedLunOptions o;
    o.fs = efs_;
    o.hooks = hooks_;
    auto r = run(
        cache::CachedLun::open(ctx_.get_executor(), pool_.get_executor(), store_, lun_, cache_, o));
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
    return r ? *r : nullptr;
  }
};

TEST_F(LocalFaultTest, AFullJournalRefusesWritesWithNoSpaceAndLosesNothingDurable) {
  auto lun = open_errno();
  ASSERT_TRUE(lun);
  ASSERT_TRUE(write(*lun, 0, 8, 1, /*fua=*/true));
  efs_->fail_writes(".journal.", ENOSPC);
  auto w = write(*lun, 100, 8, 2);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error(), block_errc::no_space);  // DATA PROTECT 27/07, not HARDWARE ERROR
  // The journal may hold a torn record now: every later write is refused the same way, also
  // once the file system has room again (until a restart), and a flush does not claim success.
  efs_->heal();
  auto again = write(*lun, 200, 8, 3, /*fua=*/true);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), block_errc::no_space);
  EXPECT_EQ(flush(*lun).error(), block_errc::no_space);
  expect_tag(*lun, 0, 8, 1);  // reads go on
  const auto s = lun->stats();
  EXPECT_TRUE(s.writes_stopped);
  EXPECT_GE(s.local_errors, 1u);
  abandon(lun);
  // A restart with room again: the durable write is there, the refused ones are not torn.
  auto back = open_errno();
  ASSERT_TRUE(back);
  expect_tag(*back, 0, 8, 1);
  expect_tag(*back, 200, 8, 0);
  EXPECT_FALSE(back->stats().writes_stopped);
  ASSERT_TRUE(write(*back, 300, 8, 4, true));
  expect_tag(*back, 300, 8, 4);
  close(back);
}

TEST_F(LocalFaultTest, NoUploadsAfterTheCacheFileFailedSoNoOrphansInSwift) {
  cache_.max_dirty_age = std::chrono::milliseconds(50);
  auto lun = open_errno();
  ASSERT_TRUE(lun);
  efs_->fail_writes(".journal.", ENOSPC);
  ASSERT_FALSE(write(*lun, 0, 8, 1));  // dirty in memory, its record refused
  const auto puts = store_->calls(core::MemoryObjectStore::Verb::put);
  // Well past max_dirty_age: an upload now could never be committed to the journal, and its
  // object would be an orphan in Swift.
  pump_until([] { return false; }, std::chrono::milliseconds(500));
  EXPECT_EQ(store_->calls(core::MemoryObjectStore::Verb::put), puts);
  EXPECT_EQ(lun->stats().upload_failures, 0u);
  efs_->heal();
  abandon(lun);
}

TEST_F(LocalFaultTest, ACheckpointThatCannotBeWrittenStopsWritesWithNoSpace) {
  auto lun = open_errno();
  ASSERT_TRUE(lun);
  ASSERT_TRUE(write(*lun, 0, 8, 1, true));
  efs_->fail_writes(".ckpt", ENOSPC);
  auto c = run(lun->checkpoint_now());
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), block_errc::no_space);
  EXPECT_FALSE(fs_->exists("lun1.ckpt.tmp"));  // the partial checkpoint gave its space back
  auto w = write(*lun, 8, 8, 2);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error(), block_errc::no_space);
  expect_tag(*lun, 0, 8, 1);
  efs_->heal();
  abandon(lun);
  auto back = open_errno();
  ASSERT_TRUE(back);
  expect_tag(*back, 0, 8, 1);
  close(back);
}

TEST_F(LocalFaultTest, AReadOnlyFileSystemIsWriteProtected) {
  auto lun = open_errno();
  ASSERT_TRUE(lun);
  ASSERT_TRUE(write(*lun, 0, 8, 1, true));
  efs_->fail_writes("lun1.", EROFS);
  auto w = write(*lun, 64, 8, 2);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error(), block_errc::write_protected);  // DATA PROTECT 27/00
  // FUA on a file system that refuses the data pages: refused too, never acknowledged.
  auto fua = write(*lun, 72, 8, 3, true);
  ASSERT_FALSE(fua);
  EXPECT_EQ(fua.error(), block_errc::write_protected);
  expect_tag(*lun, 0, 8, 1);
  expect_tag(*lun, 64, 16, 0);
  EXPECT_GE(lun->stats().local_errors, 2u);
  efs_->heal();
  abandon(lun);
}

TEST_F(LocalFaultTest, EioOnTheDataFileIsAWriteErrorAndAFailedSyncIsNeverAcknowledged) {
  auto lun = open_errno();
  ASSERT_TRUE(lun);
  ASSERT_TRUE(write(*lun, 0, 8, 1));  // WCE=1: in the page cache only
  efs_->fail_writes(".data", EIO);    // writeback of those pages fails: fdatasync says EIO
  auto f = flush(*lun);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error(), block_errc::medium_error);  // MEDIUM ERROR, WRITE ERROR 03/0C/00
  efs_->heal();
  // The kernel reports a writeback error once; the next fdatasync would succeed although the
  // pages are gone. So the failure sticks: no later SYNCHRONIZE CACHE claims durability.
  EXPECT_EQ(flush(*lun).error(), block_errc::medium_error);
  EXPECT_EQ(write(*lun, 8, 8, 2, true).error(), block_errc::medium_error);
  EXPECT_TRUE(lun->stats().writes_stopped);
  abandon(lun);
}

TEST_F(LocalFaultTest, AnUnreadableCleanPageIsServedFromSwift) {
  auto lun = open_errno();
  ASSERT_TRUE(lun);
  ASSERT_TRUE(write(*lun, 0, 256, 1));  // chunk 0, whole
  ASSERT_TRUE(drain(*lun));             // now clean: Swift holds the same bytes
  efs_->fail_reads(".data", EIO);
  expect_tag(*lun, 10, 20, 1);
  EXPECT_EQ(lun->stats().swift_read_fallbacks, 20u);
  EXPECT_GE(lun->stats().local_errors, 1u);
  EXPECT_FALSE(lun->stats().writes_stopped);  // a read error does not stop writes
  efs_->heal();
  close(lun);
}

TEST_F(LocalFaultTest, AnUnreadableDirtyPageIsAMediumErrorNeverOtherBytes) {
  auto lun = open_errno();
  ASSERT_TRUE(lun);
  ASSERT_TRUE(write(*lun, 0, 256, 1));
  ASSERT_TRUE(drain(*lun));
  ASSERT_TRUE(write(*lun, 16, 4, 2));  // dirty again: only the cache holds tag 2
  efs_->fail_reads(".data", EIO);
  ASSERT_TRUE(medium_error(*lun, 16, 4));  // UNRECOVERED READ ERROR 03/11/00
  // A read that touches the dirty blocks and clean ones fails as a whole; the clean neighbours
  // alone still come from Swift, with the bytes Swift holds.
  EXPECT_FALSE(read(*lun, 12, 8));
  expect_tag(*lun, 0, 16, 1);
  expect_tag(*lun, 20, 8, 1);
  efs_->heal();
  expect_tag(*lun, 16, 4, 2);
  close(lun);
}

TEST_F(LocalFaultTest, WritesResumeByThemselvesOnceTheFileSystemHasRoomAgain) {
  cache_.resume_probe_interval = std::chrono::milliseconds(20);
  auto lun = open_errno();
  ASSERT_TRUE(lun);
  ASSERT_TRUE(write(*lun, 0, 8, 1, true));
  efs_->fail_writes(".journal.", ENOSPC);
  auto w = write(*lun, 100, 8, 2);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error(), block_errc::no_space);
  EXPECT_TRUE(lun->stats().writes_stopped);  // a failed journal write stops writes
  efs_->fail_writes("lun1.", ENOSPC);        // and the whole file system is full
  // While it lasts the probes fail (about five of them here) and writes stay refused.
  pump_until([] { return false; }, std::chrono::milliseconds(300));
  EXPECT_TRUE(lun->stats().writes_stopped);
  EXPECT_EQ(write(*lun, 100, 8, 2).error(), block_errc::no_space);
  efs_->heal();
  ASSERT_TRUE(pump_until([&] { return !lun->stats().writes_stopped; }));
  EXPECT_FALSE(fs_->exists("lun1.probe"));  // the probe leaves nothing behind
  ASSERT_TRUE(write(*lun, 200, 8, 3, true));
  ASSERT_TRUE(flush(*lun));
  expect_tag(*lun, 0, 8, 1);
  expect_tag(*lun, 200, 8, 3);
  abandon(lun);
  fs_->power_loss();  // what was acknowledged as durable after the resume is durable
  fs_->revive();
  auto back = open_errno();
  ASSERT_TRUE(back);
  expect_tag(*back, 0, 8, 1);
  expect_tag(*back, 200, 8, 3);
  close(back);
}

TEST_F(LocalFaultTest, APageAFailedWritebackLostIsCaughtWhenWritesResume) {
  cache_.resume_probe_interval = std::chrono::milliseconds(20);
  auto lun = open_errno();
  ASSERT_TRUE(lun);
  ASSERT_TRUE(write(*lun, 0, 8, 1));  // WCE=1: in the page cache only
  efs_->fail_writes(".data", EIO);
  ASSERT_EQ(flush(*lun).error(), block_errc::medium_error);
  // The kernel dropped one of those pages with the failed writeback: the disk has other bytes.
  ASSERT_TRUE(flip(3, 1));
  efs_->heal();
  ASSERT_TRUE(pump_until([&] { return !lun->stats().writes_stopped; }));
  EXPECT_EQ(lun->stats().damaged_dirty_blocks, 1u);
  ASSERT_TRUE(medium_error(*lun, 3, 1));  // never the lost page's bytes
  expect_tag(*lun, 0, 3, 1);
  expect_tag(*lun, 4, 4, 1);
  ASSERT_TRUE(write(*lun, 3, 1, 4, true));  // a write heals it
  expect_tag(*lun, 3, 1, 4);
  EXPECT_EQ(lun->stats().damaged_dirty_blocks, 0u);
  close(lun);
}

}  // namespace
}  // namespace swiftness::test
