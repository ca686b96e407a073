// CachedLun against MemoryObjectStore and FaultFs, Swift faults and backpressure (fixture:
// lun_fixture.hpp): Swift down or silent, transient PUT errors, damaged objects and granules,
// stale replicas of the index pointer, and writes that wait for room when the cache is full of
// dirty data Swift does not take.
#include "cache/cached_lun.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "tests/unit/cache/lun_fixture.hpp"

namespace swiftness::test {
namespace {

using core::block_errc;
using Verb = core::MemoryObjectStore::Verb;

TEST_F(CachedLunTest, SwiftDownWritesAreAbsorbedAndDrainCompletesWhenItReturns) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 0, 256, 1));
  ASSERT_TRUE(drain(*lun));
  close(lun);
  lun = open(std::make_shared<FaultFs>());  // chunk 0 now only in Swift
  store_->set_down(true);
  for (uint64_t c = 1; c < 5; ++c)
    ASSERT_TRUE(write(*lun, c * 256, 256, uint8_t(c + 1)));
  ASSERT_TRUE(flush(*lun));
  expect_tag(*lun, 256, 256, 2);  // cache hits need no Swift
  EXPECT_EQ(read(*lun, 0, 1).error(), block_errc::unavailable);
  EXPECT_EQ(drain(*lun, std::chrono::milliseconds(200)).error(), block_errc::unavailable);
  store_->set_down(false);
  expect_tag(*lun, 0, 256, 1);  // service resumes by itself
  ASSERT_TRUE(drain(*lun));
  close(lun);
  auto fresh = open(std::make_shared<FaultFs>());
  for (uint64_t c = 1; c < 5; ++c)
    expect_tag(*fresh, c * 256, 256, int(c + 1));
  close(fresh);
}

// Issue 8: a cold read whose GET never answers (a Swift that accepts and never replies) is NOT
// READY after CacheConfig::read_wait_limit, both as a ranged GET (a few blocks) and as a whole
// chunk (a quarter of it or more); before, the reader waited for every retry of every attempt
// (6 x 5 attempts of up to 30 s each). Once Swift answers again the same reads succeed.
TEST_F(CachedLunTest, AColdReadWhoseGetNeverAnswersIsNotReadyWithinItsBound) {
  cache_.read_wait_limit = std::chrono::milliseconds(300);
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 0, 256, 1));
  ASSERT_TRUE(drain(*lun));
  close(lun);
  lun = open(std::make_shared<FaultFs>());  // chunk 0 now only in Swift
  ASSERT_TRUE(lun);
  store_->hold(Verb::get);
  for (uint32_t blocks : {1u, 256u}) {  // ranged, then whole
    const auto t0 = std::chrono::steady_clock::now();
    auto r = read(*lun, 0, blocks);
    const auto waited = std::chrono::steady_clock::now() - t0;
    ASSERT_FALSE(r) << blocks;
    EXPECT_EQ(r.error(), block_errc::unavailable) << blocks;
    EXPECT_GE(waited, std::chrono::milliseconds(250)) << blocks;
    EXPECT_LT(waited, std::chrono::seconds(3)) << blocks;
  }
  EXPECT_GE(store_->held(Verb::get), 1u);  // the GETs really are still hanging
  store_->release(Verb::get);
  expect_tag(*lun, 0, 1, 1);
  expect_tag(*lun, 0, 256, 1);
  close(lun);
}

TEST_F(CachedLunTest, TransientPutErrorsAreRetried) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 0, 256, 1));
  store_->fail_next(Verb::put, 3, core::object_errc::service_unavailable);
  ASSERT_TRUE(drain(*lun));
  EXPECT_GE(lun->stats().upload_failures, 1u);
  close(lun);
  auto fresh = open(std::make_shared<FaultFs>());
  expect_tag(*fresh, 0, 256, 1);
  close(fresh);
}

TEST_F(CachedLunTest, ChecksumMismatchIsMediumErrorNeverBadBytes) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 0, 256, 1));
  ASSERT_TRUE(drain(*lun));
  close(lun);
  auto objects = chunk_objects();
  ASSERT_EQ(objects.size(), 1u);
  ASSERT_TRUE(store_->corrupt({"lun1", objects[0]}, 5000));
  auto fresh = open(std::make_shared<FaultFs>());
  const auto gets = store_->calls(Verb::get);
  ASSERT_TRUE(medium_error(*fresh, 0, 4));
  EXPECT_GT(store_->calls(Verb::get), gets + 1);  // retried before giving up
  EXPECT_GE(fresh->stats().checksum_failures, 2u);
  close(fresh);
}

TEST_F(CachedLunTest, ADamagedGranuleFailsOnlyItsReadsAndIsNeverServed) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 0, 256, 1));
  ASSERT_TRUE(drain(*lun));
  close(lun);
  auto objects = chunk_objects();
  ASSERT_EQ(objects.size(), 1u);
  ASSERT_TRUE(store_->corrupt({"lun1", objects[0]}, 2 * 65536 + 300));  // granule 2
  auto fresh = open(std::make_shared<FaultFs>());
  const auto gets = store_->calls(Verb::get);
  ASSERT_TRUE(medium_error(*fresh, 33, 2));
  EXPECT_GT(store_->calls(Verb::get), gets + 1);  // retried before giving up
  EXPECT_GE(fresh->stats().checksum_failures, 2u);
  expect_tag(*fresh, 100, 4, 1);  // another granule of the same object is fine
  // A whole-chunk read of the damaged object fails as well.
  ASSERT_TRUE(medium_error(*fresh, 0, 256));
  close(fresh);
}

TEST_F(CachedLunTest, StaleReplicasOfTheIndexPointerAreNotBelieved) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 0, 256, 1));
  ASSERT_TRUE(drain(*lun));
  ASSERT_TRUE(write(*lun, 0, 256, 2));
  ASSERT_TRUE(drain(*lun));
  close(lun);
  store_->set_stale_reads(true);  // a lagging replica still has the first pointer
  auto fresh = open(std::make_shared<FaultFs>());
  expect_tag(*fresh, 0, 256, 2);
  close(fresh);
}

TEST_F(CachedLunTest, FullOfDirtyDataWithSwiftDownWritesWaitThenFailBusy) {
  cache_.size_bytes = 2u << 20;  // 512 pages
  cache_.write_wait_limit = std::chrono::milliseconds(300);
  auto lun = open(fs_);
  store_->set_down(true);
  ASSERT_TRUE(write(*lun, 0, 256, 1));
  ASSERT_TRUE(write(*lun, 256, 200, 2));
  auto t0 = std::chrono::steady_clock::now();
  auto r = write(*lun, 1024, 256, 3);
  auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), block_errc::busy);
  EXPECT_GE(waited, std::chrono::milliseconds(250));
  EXPECT_LT(waited, std::chrono::seconds(5));
  store_->set_down(false);
  ASSERT_TRUE(drain(*lun));
  ASSERT_TRUE(write(*lun, 1024, 256, 3));  // room again once Swift took the dirty data
  expect_tag(*lun, 0, 256, 1);
  expect_tag(*lun, 1024, 256, 3);
  close(lun);
}

// Swift answering nothing yet failing nothing (every PUT held): the flusher cannot make room and
// the store still looks healthy. A write first waits for dirty room, then for free pages; both
// waits together stay within one write_wait_limit, not two.
TEST_F(CachedLunTest, AWriteWaitsForRoomAtMostOneWriteWaitLimitInAll) {
  cache_.size_bytes = 2u << 20;  // 512 pages, high watermark 384
  cache_.write_wait_limit = std::chrono::milliseconds(600);
  auto lun = open(fs_);
  store_->hold(Verb::put);
  ASSERT_TRUE(write(*lun, 0, 256, 1));
  ASSERT_TRUE(write(*lun, 256, 200, 2));  // waits out the bound for room, then gets pages
  auto t0 = std::chrono::steady_clock::now();
  auto r = write(*lun, 1024, 256, 3);  // no room and no pages
  auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), block_errc::busy);
  EXPECT_GE(waited, std::chrono::milliseconds(550));
  EXPECT_LT(waited, std::chrono::milliseconds(1000)) << "waited the bound twice";
  store_->release(Verb::put);
  ASSERT_TRUE(drain(*lun));
  expect_tag(*lun, 0, 256, 1);
  expect_tag(*lun, 256, 200, 2);
  close(lun);
}

}  // namespace
}  // namespace swiftness::test
