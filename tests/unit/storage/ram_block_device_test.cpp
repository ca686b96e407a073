#include "target/storage/ram_block_device.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "tests/unit/storage/run_sync.hpp"

using swiftness::core::block_errc;
using swiftness::core::LbaRange;
using swiftness::storage::RamBlockDevice;

TEST(RamBlockDevice, WriteThenReadBack) {
  RamBlockDevice dev(512, 16);
  std::vector<std::byte> w(1024, std::byte{0x5a}), r(1024);
  ASSERT_TRUE(run_sync(dev.write(3, w, {})));
  ASSERT_TRUE(run_sync(dev.read(3, r)));
  EXPECT_EQ(w, r);
}

TEST(RamBlockDevice, OutOfRangeIsAnError) {
  RamBlockDevice dev(512, 16);
  std::vector<std::byte> r(1024);
  auto res = run_sync(dev.read(15, r));
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error(), block_errc::out_of_range);
}

TEST(RamBlockDevice, ThinUnmapZeroesAndReportsDeallocated) {
  RamBlockDevice dev(512, 16, /*thin=*/true);
  std::vector<std::byte> w(512 * 8, std::byte{1}), r(512 * 8, std::byte{7});
  ASSERT_TRUE(run_sync(dev.write(0, w, {})));
  auto st = run_sync(dev.lba_status(0));
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->mapped);
  EXPECT_EQ(st->range.count, 8u);
  LbaRange range{2, 3};
  ASSERT_TRUE(run_sync(dev.unmap(std::span(&range, 1))));
  ASSERT_TRUE(run_sync(dev.read(0, r)));
  EXPECT_EQ(r[2 * 512], std::byte{0});
  EXPECT_EQ(r[5 * 512], std::byte{1});
  st = run_sync(dev.lba_status(2));
  ASSERT_TRUE(st);
  EXPECT_FALSE(st->mapped);
  EXPECT_EQ(st->range.count, 3u);
}
