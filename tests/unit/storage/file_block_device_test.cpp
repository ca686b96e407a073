#include "target/storage/file_block_device.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/thread_pool.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

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

}  // namespace
