// CachedLun against MemoryObjectStore and FaultFs, the data path (fixture: lun_fixture.hpp):
// reads and writes through the cache, drain and restart from Swift alone or from the local
// journal, cold reads that fetch granules or whole chunks, a LUN larger than the cache,
// compressed chunks and the attach rules.
#include "cache/cached_lun.hpp"

#include <gtest/gtest.h>

#include <memory>

#include "tests/unit/cache/lun_fixture.hpp"

namespace swiftness::test {
namespace {

using core::block_errc;
using Verb = core::MemoryObjectStore::Verb;

TEST_F(CachedLunTest, WritesReadBackFromTheCacheAcrossChunkBoundaries) {
  auto lun = open(fs_);
  ASSERT_TRUE(lun);
  const auto gets = store_->calls(Verb::get);
  ASSERT_TRUE(write(*lun, 250, 12, 1));  // crosses chunk 0 -> 1
  expect_tag(*lun, 250, 12, 1);
  expect_tag(*lun, 0, 250, 0);  // never written: zeros
  ASSERT_TRUE(write(*lun, 255, 2, 2));
  expect_tag(*lun, 250, 5, 1);
  expect_tag(*lun, 255, 2, 2);
  expect_tag(*lun, 257, 5, 1);
  EXPECT_EQ(store_->calls(Verb::get), gets);  // hits and writes never touch Swift
  EXPECT_TRUE(chunk_objects().empty());       // write-back: nothing uploaded yet
  close(lun);
}

TEST_F(CachedLunTest, OutOfRangeIsRefused) {
  auto lun = open(fs_);
  EXPECT_EQ(write(*lun, 4095, 2, 1).error(), block_errc::out_of_range);
  EXPECT_EQ(read(*lun, 4096, 1).error(), block_errc::out_of_range);
  close(lun);
}

TEST_F(CachedLunTest, DrainThenAFreshGatewayReadsEverythingFromSwift) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 0, 256, 1));   // a whole chunk
  ASSERT_TRUE(write(*lun, 300, 10, 2));  // a partial chunk
  ASSERT_TRUE(write(*lun, 4090, 6, 3));  // the last blocks
  ASSERT_TRUE(drain(*lun));
  EXPECT_EQ(lun->stats().dirty_blocks, 0u);
  EXPECT_EQ(chunk_objects().size(), 3u);
  EXPECT_TRUE(store_->contains({"lun1", "index.pointer"}));
  const auto uuid = lun->uuid();
  close(lun);

  auto fresh = open(std::make_shared<FaultFs>());  // empty cache directory
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->uuid(), uuid);
  expect_tag(*fresh, 0, 256, 1);
  expect_tag(*fresh, 256, 44, 0);
  expect_tag(*fresh, 300, 10, 2);
  expect_tag(*fresh, 310, 10, 0);
  expect_tag(*fresh, 4090, 6, 3);
  EXPECT_GE(fresh->stats().fetches, 3u);
  close(fresh);
}

TEST_F(CachedLunTest, RestartKeepsDirtyDataAndReusesCleanDataWithoutDownloading) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 0, 256, 1));
  ASSERT_TRUE(drain(*lun));              // chunk 0 clean in the cache
  ASSERT_TRUE(write(*lun, 512, 20, 2));  // chunk 2 dirty
  close(lun);
  const auto gets = store_->calls(Verb::get);
  lun = open(fs_);
  ASSERT_TRUE(lun);
  EXPECT_EQ(lun->stats().dirty_blocks, 20u);
  expect_tag(*lun, 0, 256, 1);
  expect_tag(*lun, 512, 20, 2);
  EXPECT_EQ(store_->calls(Verb::get), gets + 1);  // lun.meta only: warm restart
  ASSERT_TRUE(drain(*lun));
  close(lun);
  auto fresh = open(std::make_shared<FaultFs>());
  expect_tag(*fresh, 512, 20, 2);
  close(fresh);
}

TEST_F(CachedLunTest, ColdRandomReadsFetchOnlyTheirGranules) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 0, 256, 1));  // chunk 0, whole: 16 granules of 16 blocks
  ASSERT_TRUE(drain(*lun));
  close(lun);
  auto fresh = open(std::make_shared<FaultFs>());
  ASSERT_TRUE(fresh);
  const auto gets = store_->calls(Verb::get);
  expect_tag(*fresh, 100, 2, 1);  // granule 6 (blocks 96..111)
  auto st = fresh->stats();
  EXPECT_EQ(st.ranged_fetches, 1u);
  EXPECT_EQ(st.fetched_bytes, 65536u);  // not the 1 MiB chunk
  EXPECT_EQ(store_->calls(Verb::get), gets + 1);
  // The granule was cached in the background: reading any of it again asks Swift nothing.
  ASSERT_TRUE(pump_until([&] { return fresh->stats().used_pages >= 16; }));
  expect_tag(*fresh, 96, 16, 1);
  EXPECT_EQ(store_->calls(Verb::get), gets + 1);
  // A read spanning two granules fetches both in one GET.
  expect_tag(*fresh, 140, 8, 1);  // granules 8 and 9
  EXPECT_EQ(fresh->stats().ranged_fetches, 2u);
  EXPECT_EQ(fresh->stats().fetched_bytes, 3u * 65536);
  // A quarter of the chunk or more: the whole object.
  expect_tag(*fresh, 160, 64, 1);
  EXPECT_EQ(fresh->stats().ranged_fetches, 2u);
  EXPECT_EQ(fresh->stats().fetched_bytes, 3u * 65536 + (1u << 20));
  close(fresh);
}

TEST_F(CachedLunTest, SequentialColdReadsFetchWholeChunks) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 0, 512, 1));
  ASSERT_TRUE(drain(*lun));
  close(lun);
  cache_.read_ahead_chunks = 0;
  auto fresh = open(std::make_shared<FaultFs>());
  expect_tag(*fresh, 0, 8, 1);   // alone: ranged (granule 0, blocks 0..15)
  expect_tag(*fresh, 8, 8, 1);   // follows it (served from the granule once it is cached)
  expect_tag(*fresh, 16, 8, 1);  // a stream: the whole chunk
  auto st = fresh->stats();
  EXPECT_EQ(st.ranged_fetches, 1u);
  EXPECT_EQ(st.fetched_bytes, 65536u + (1u << 20));
  close(fresh);
}

TEST_F(CachedLunTest, LunLargerThanTheCacheStreamsThroughIt) {
  cache_.size_bytes = 2u << 20;  // 2 MiB cache, 16 MiB LUN
  cache_.dirty_low_watermark = 0.25;
  cache_.dirty_high_watermark = 0.5;
  auto lun = open(fs_);
  for (uint64_t c = 0; c < 16; ++c) {
    ASSERT_TRUE(write(*lun, c * 256, 256, uint8_t(c + 1))) << c;
  }
  for (uint64_t c = 0; c < 16; ++c)
    expect_tag(*lun, c * 256, 256, int(c + 1));
  ASSERT_TRUE(drain(*lun));
  auto s = lun->stats();
  EXPECT_GE(s.checkpoints, 1u);
  EXPECT_GE(s.fetches, 1u);
  close(lun);
  lun = open(fs_);
  for (uint64_t c = 0; c < 16; ++c)
    expect_tag(*lun, c * 256, 256, int(c + 1));
  close(lun);
}

TEST_F(CachedLunTest, CompressedChunksRoundTrip) {
  lun_.compression = true;
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 0, 8, 1));  // mostly zeros: compresses well
  ASSERT_TRUE(drain(*lun));
  auto objs = chunk_objects();
  ASSERT_EQ(objs.size(), 1u);
  auto info = store_->info({"lun1", objs[0]});
  ASSERT_TRUE(info);
  EXPECT_LT(info->size, 1u << 20);
  EXPECT_EQ(info->metadata.at("swiftness-codec"), "zstd");
  close(lun);
  auto fresh = open(std::make_shared<FaultFs>());
  expect_tag(*fresh, 0, 8, 1);
  expect_tag(*fresh, 8, 248, 0);
  close(fresh);
}

TEST_F(CachedLunTest, AttachRefusesAnotherBlockSizeOrAShrinkAndAllowsGrowing) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 0, 1, 1));
  ASSERT_TRUE(drain(*lun));
  close(lun);
  lun_.block_size = 512;
  EXPECT_FALSE(try_open(std::make_shared<FaultFs>()));
  lun_.block_size = kBlock;
  lun_.size_bytes = 8u << 20;
  EXPECT_FALSE(try_open(std::make_shared<FaultFs>()));
  lun_.size_bytes = 32u << 20;
  auto grown = open(fs_);
  ASSERT_TRUE(grown);
  EXPECT_TRUE(grown->capacity_changed());
  EXPECT_EQ(grown->geometry().block_count, (32u << 20) / kBlock);
  expect_tag(*grown, 0, 1, 1);
  ASSERT_TRUE(write(*grown, 8000, 4, 5));
  expect_tag(*grown, 8000, 4, 5);
  close(grown);
}

}  // namespace
}  // namespace swiftness::test
