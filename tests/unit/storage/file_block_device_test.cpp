#include "target/storage/file_block_device.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fcntl.h>
#include <sys/uio.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "target/storage/uring.hpp"
#include "tests/unit/storage/run_sync.hpp"

using swiftness::core::LbaRange;
using swiftness::storage::FileBlockDevice;
using swiftness::storage::FileBlockDeviceOptions;

namespace {

class FileBlockDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp ? tmp : "/tmp") + "/swiftness-fbd-XXXXXX";
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::shared_ptr<FileBlockDevice> open(bool thin, uint64_t size = 4 << 20, uint32_t bs = 512) {
    FileBlockDeviceOptions o;
    o.path = dir_ + "/lun";
    o.size_bytes = size;
    o.block_size = bs;
    o.thin = thin;
    auto dev = FileBlockDevice::open(o, pool_.get_executor());
    EXPECT_TRUE(dev) << dev.error().message();
    return dev ? *dev : nullptr;
  }
  uint64_t allocated_bytes() {
    struct stat st {};
    ::stat((dir_ + "/lun").c_str(), &st);
    return uint64_t(st.st_blocks) * 512;
  }

  std::string dir_;
  boost::asio::thread_pool pool_{2};
};

TEST_F(FileBlockDeviceTest, CreatesSparseFileOfTheRequestedSize) {
  auto dev = open(true);
  EXPECT_EQ(std::filesystem::file_size(dir_ + "/lun"), 4u << 20);
  EXPECT_EQ(dev->geometry().block_count, (4u << 20) / 512);
  EXPECT_TRUE(dev->geometry().thin);
  EXPECT_LT(allocated_bytes(), 64u * 1024);  // nothing written yet
}

TEST_F(FileBlockDeviceTest, ThickFileIsFullyAllocated) {
  auto dev = open(false);
  EXPECT_FALSE(dev->geometry().thin);
  EXPECT_GE(allocated_bytes(), 4u << 20);
}

TEST_F(FileBlockDeviceTest, WriteReadRoundTripOnThePool) {
  auto dev = open(true);
  std::vector<std::byte> w(4096), r(4096);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = std::byte(i * 7);
  ASSERT_TRUE(run_sync(dev->write(100, w, {})));
  ASSERT_TRUE(run_sync(dev->read(100, r)));
  EXPECT_EQ(w, r);
  // And it is in the file at the right offset.
  auto again = open(true);
  std::vector<std::byte> r2(512);
  ASSERT_TRUE(run_sync(again->read(101, r2)));
  EXPECT_TRUE(std::equal(r2.begin(), r2.end(), w.begin() + 512));
}

// Large writes reach the file in 64 KiB-aligned pieces (small page-cache folios, cheap 4 KiB
// writes later): one that starts and ends mid-piece lands byte for byte, with its neighbours
// untouched, and so does the same write with FUA (one RWF_DSYNC write, not in pieces).
TEST_F(FileBlockDeviceTest, LargeUnalignedWriteLandsExactly) {
  auto dev = open(true);
  const uint64_t lba = 100;  // 51,200 bytes in: not on a 64 KiB boundary
  std::vector<std::byte> w((1 << 20) + 3 * 512);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = std::byte((i * 131 + i / 4096) & 0xff);
  for (bool fua : {false, true}) {
    std::vector<std::byte> marker(512, std::byte{0x5a});
    ASSERT_TRUE(run_sync(dev->write(lba - 1, marker, {})));
    ASSERT_TRUE(run_sync(dev->write(lba + w.size() / 512, marker, {})));
    ASSERT_TRUE(run_sync(dev->write(lba, w, {.fua = fua})));
    // Read through a separate descriptor: what the file holds, not what the device returns.
    int fd = ::open((dir_ + "/lun").c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    std::vector<std::byte> r(w.size() + 1024);
    ASSERT_EQ(::pread(fd, r.data(), r.size(), off_t((lba - 1) * 512)), ssize_t(r.size()));
    ::close(fd);
    EXPECT_TRUE(std::equal(w.begin(), w.end(), r.begin() + 512)) << "fua " << fua;
    EXPECT_EQ(std::vector<std::byte>(r.begin(), r.begin() + 512), marker) << "fua " << fua;
    EXPECT_EQ(std::vector<std::byte>(r.end() - 512, r.end()), marker) << "fua " << fua;
    for (auto& b : w)
      b = ~b;  // the FUA round writes different bytes over the first
  }
  EXPECT_EQ(dev->sync_count(), 1u);
}

TEST_F(FileBlockDeviceTest, FuaWriteAndFlushSync) {
  auto dev = open(true);
  std::vector<std::byte> w(512, std::byte{1});
  ASSERT_TRUE(run_sync(dev->write(0, w, {})));
  EXPECT_EQ(dev->sync_count(), 0u);
  ASSERT_TRUE(run_sync(dev->write(1, w, {.fua = true})));
  EXPECT_EQ(dev->sync_count(), 1u);
  ASSERT_TRUE(run_sync(dev->flush({0, 0})));
  EXPECT_EQ(dev->sync_count(), 2u);
}

TEST_F(FileBlockDeviceTest, UnmapPunchesHolesAndReadsZeros) {
  auto dev = open(true);
  std::vector<std::byte> w(1 << 20, std::byte{0xab});
  ASSERT_TRUE(run_sync(dev->write(0, w, {})));
  const uint64_t before = allocated_bytes();
  EXPECT_GE(before, 1u << 20);
  LbaRange r{256, 1024};  // 512 KiB starting at 128 KiB
  ASSERT_TRUE(run_sync(dev->unmap(std::span(&r, 1))));
  EXPECT_LE(allocated_bytes(), before - (512u << 10));
  std::vector<std::byte> back(512 * 4);
  ASSERT_TRUE(run_sync(dev->read(254, back)));
  EXPECT_EQ(back[0], std::byte{0xab});
  EXPECT_EQ(back[512 * 2], std::byte{0});
  EXPECT_EQ(std::filesystem::file_size(dir_ + "/lun"), 4u << 20);  // KEEP_SIZE
}

TEST_F(FileBlockDeviceTest, LbaStatusFollowsDataAndHoles) {
  auto dev = open(true);
  std::vector<std::byte> w(64 << 10, std::byte{1});
  ASSERT_TRUE(run_sync(dev->write(0, w, {})));
  auto st = run_sync(dev->lba_status(0));
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->mapped);
  EXPECT_EQ(st->range.lba, 0u);
  EXPECT_EQ(st->range.count, 128u);
  st = run_sync(dev->lba_status(128));
  ASSERT_TRUE(st);
  EXPECT_FALSE(st->mapped);
  EXPECT_EQ(st->range.count, dev->geometry().block_count - 128);
}

TEST_F(FileBlockDeviceTest, ThickFileReportsEverythingMapped) {
  auto dev = open(false);
  auto st = run_sync(dev->lba_status(10));
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->mapped);
  EXPECT_EQ(st->range.count, dev->geometry().block_count - 10);
}

TEST_F(FileBlockDeviceTest, PhysicalBlockSizeOption) {
  FileBlockDeviceOptions o;
  o.path = dir_ + "/p";
  o.size_bytes = 1 << 20;
  o.block_size = 512;
  o.physical_block_size = 4096;
  auto dev = FileBlockDevice::open(o, pool_.get_executor());
  ASSERT_TRUE(dev);
  EXPECT_EQ((*dev)->geometry().physical_block_exponent, 3u);
  EXPECT_EQ(open(true)->geometry().physical_block_exponent, 0u);
}

TEST_F(FileBlockDeviceTest, GrowsInPlaceAndRefusesToShrink) {
  auto dev = open(true, 1 << 20);
  std::vector<std::byte> w(512, std::byte{0x5c}), r(512);
  ASSERT_TRUE(run_sync(dev->write(2047, w, {})));
  ASSERT_TRUE(run_sync(dev->grow(3 << 20)));
  EXPECT_EQ(dev->geometry().block_count, (3u << 20) / 512);
  EXPECT_EQ(std::filesystem::file_size(dir_ + "/lun"), 3u << 20);
  ASSERT_TRUE(run_sync(dev->write(6143, w, {})));
  ASSERT_TRUE(run_sync(dev->read(6143, r)));
  EXPECT_EQ(r, w);
  ASSERT_TRUE(run_sync(dev->read(2047, r)));
  EXPECT_EQ(r, w) << "the old data stays";
  auto hole = run_sync(dev->lba_status(4000));
  ASSERT_TRUE(hole);
  EXPECT_FALSE(hole->mapped) << "the new space of a thin LUN is a hole";
  EXPECT_FALSE(run_sync(dev->grow(2 << 20)));
  EXPECT_FALSE(run_sync(dev->grow((3 << 20) + 100)));
  EXPECT_EQ(dev->geometry().block_count, (3u << 20) / 512);
  EXPECT_EQ(std::filesystem::file_size(dir_ + "/lun"), 3u << 20);
}

TEST_F(FileBlockDeviceTest, ThickFileGrowsAllocated) {
  auto dev = open(false, 1 << 20);
  ASSERT_TRUE(run_sync(dev->grow(4 << 20)));
  EXPECT_EQ(dev->geometry().block_count, (4u << 20) / 512);
  EXPECT_GE(allocated_bytes(), 4u << 20);
}

TEST_F(FileBlockDeviceTest, RejectsBadGeometry) {
  FileBlockDeviceOptions o;
  o.path = dir_ + "/bad";
  o.size_bytes = 1000;
  o.block_size = 512;
  EXPECT_FALSE(FileBlockDevice::open(o, pool_.get_executor()));
  o.size_bytes = 4096;
  o.block_size = 1024;
  EXPECT_FALSE(FileBlockDevice::open(o, pool_.get_executor()));
}

// Small writes through io_uring, from an io_context as the daemon does: 64 at once (QD 64), each
// to its own block, then read back through the file. Each completes inside the submit call or
// is refused (RWF_NOWAIT; every one on ext4) and done on the pool.
TEST_F(FileBlockDeviceTest, IoUringWritesManyAtOnce) {
  boost::asio::io_context io;
  FileBlockDeviceOptions o;
  o.path = dir_ + "/lun";
  o.size_bytes = 4 << 20;
  o.block_size = 512;
  auto opened = FileBlockDevice::open(o, pool_.get_executor(), io.get_executor());
  ASSERT_TRUE(opened);
  auto dev = *opened;
  int done = 0, failed = 0;
  for (int round = 0; round < 2; ++round) {  // the second round overwrites cached pages
    for (int i = 0; i < 64; ++i) {
      boost::asio::co_spawn(
          io,
          [&, i, round]() -> boost::asio::awaitable<void> {
            std::vector<std::byte> w(4096, std::byte(i + round));
            auto r = co_await dev->write(uint64_t(i) * 16, w, {});
            r ? ++done : ++failed;
          },
          boost::asio::detached);
    }
    io.run();
    io.restart();
  }
  EXPECT_EQ(done, 128);
  EXPECT_EQ(failed, 0);
  for (int i = 0; i < 64; ++i) {
    std::vector<std::byte> r(4096);
    ASSERT_TRUE(run_sync(dev->read(uint64_t(i) * 16, r)));
    EXPECT_EQ(r, std::vector<std::byte>(4096, std::byte(i + 1))) << "block " << i * 16;
  }
}

TEST(UringQueue, CompletesThroughTheEventfdAndReportsErrors) {
  boost::asio::io_context io;
  auto q = swiftness::storage::UringQueue::create(io.get_executor());
  ASSERT_TRUE(q) << "io_uring unavailable";
  char path[] = "/tmp/swiftness-uring-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::unlink(path);
  std::vector<std::byte> w(8192, std::byte{0x5a});
  ssize_t dsync = 0, bad = 0;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        // RWF_DSYNC cannot finish without waiting for the disk: always the async path.
        dsync = co_await q->write(fd, w.data(), w.size(), 4096, RWF_DSYNC);
        bad = co_await q->write(-1, w.data(), w.size(), 0, 0);
      },
      boost::asio::detached);
  io.run();
  EXPECT_EQ(dsync, 8192);
  EXPECT_EQ(bad, -EBADF);
  std::vector<std::byte> r(8192);
  EXPECT_EQ(::pread(fd, r.data(), r.size(), 4096), 8192);
  EXPECT_EQ(r, w);
  ::close(fd);
}

// The device asks io_uring for non-blocking writes for its first kUringProbeWrites small writes
// and keeps doing so only if at least one in eight was done that way; every write succeeds
// either way. (On ext4 none is: the ring is dropped, and writes take the pool as tgt's do.)
TEST_F(FileBlockDeviceTest, DropsTheRingWhenTheFileSystemRefusesNonBlockingWrites) {
  boost::asio::io_context io;
  FileBlockDeviceOptions o;
  o.path = dir_ + "/lun";
  o.size_bytes = 4 << 20;
  o.block_size = 512;
  auto opened = FileBlockDevice::open(o, pool_.get_executor(), io.get_executor());
  ASSERT_TRUE(opened);
  auto dev = *opened;
  if (!dev->uring_writes_on()) GTEST_SKIP() << "io_uring unavailable";
  const uint64_t probe = FileBlockDevice::kUringProbeWrites;
  uint64_t done = 0;
  auto write_batch = [&](uint64_t count, int fill) {
    for (uint64_t i = 0; i < count; ++i) {
      boost::asio::co_spawn(
          io,
          [&, i, fill]() -> boost::asio::awaitable<void> {
            std::vector<std::byte> w(4096, std::byte(fill));
            auto r = co_await dev->write((i % 1024) * 8, w, {});
            if (r) ++done;
          },
          boost::asio::detached);
      if (i % 32 == 31) {  // QD 32
        io.run();
        io.restart();
      }
    }
    io.run();
    io.restart();
  };
  write_batch(probe, 1);
  EXPECT_EQ(done, probe);
  const uint64_t inline_after_probe = dev->uring_writes_inline();
  const bool kept = inline_after_probe * 8 >= probe;
  EXPECT_EQ(dev->uring_writes_on(), kept) << inline_after_probe << " of " << probe << " inline";
  write_batch(probe, 2);
  EXPECT_EQ(done, 2 * probe);
  if (!kept) {
    EXPECT_EQ(dev->uring_writes_inline(), inline_after_probe);  // no longer asked
  }
  for (uint64_t i = 0; i < probe; ++i) {
    std::vector<std::byte> r(4096);
    ASSERT_TRUE(run_sync(dev->read(i * 8, r)));
    ASSERT_EQ(r, std::vector<std::byte>(4096, std::byte{2})) << "block " << i * 8;
  }
  RecordProperty("non_blocking_writes_kept", kept ? "yes" : "no");
}

}  // namespace
