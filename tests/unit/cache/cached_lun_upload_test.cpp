// CachedLun against MemoryObjectStore and FaultFs, uploads and what they leave in Swift
// (fixture: lun_fixture.hpp): forced interleavings with the flusher, crashes between upload,
// commit and the Swift index, orphan collection, unmap and garbage collection, and the upload
// of an idle LUN by max_dirty_age.
#include "cache/cached_lun.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>
#include <memory>
#include <thread>

#include "tests/unit/cache/lun_fixture.hpp"

namespace swiftness::test {
namespace {

using Verb = core::MemoryObjectStore::Verb;

// A hook that parks the coroutine at its point until the test lets it go.
struct Gate {
  std::atomic<int> arrived{0};
  std::atomic<bool> open{false};
  cache::Hooks::Fn fn() {
    return [this]() -> boost::asio::awaitable<void> {
      ++arrived;
      boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
      while (!open) {
        t.expires_after(std::chrono::milliseconds(1));
        co_await t.async_wait(boost::asio::use_awaitable);
      }
    };
  }
};

TEST_F(CachedLunTest, WriteWhileItsChunkUploadsIsNotMarkedClean) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 0, 256, 1));
  Gate gate;
  hooks_->set(std::string(cache::kHookUploadBeforePut), gate.fn());
  auto drained = boost::asio::co_spawn(ctx_, lun->drain(std::chrono::milliseconds(20000)),
                                       boost::asio::use_future);
  ASSERT_TRUE(pump_until([&] { return gate.arrived > 0; }));
  ASSERT_TRUE(write(*lun, 10, 2, 2));  // lands while the snapshot of chunk 0 is uploading
  hooks_->clear(std::string(cache::kHookUploadBeforePut));
  gate.open = true;
  ASSERT_TRUE(pump_until(
      [&] { return drained.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }));
  ASSERT_TRUE(drained.get());
  EXPECT_EQ(lun->stats().dirty_blocks, 0u);
  EXPECT_GE(lun->stats().uploads, 2u);  // the first upload left blocks 10-11 dirty
  close(lun);
  auto fresh = open(std::make_shared<FaultFs>());
  expect_tag(*fresh, 0, 10, 1);
  expect_tag(*fresh, 10, 2, 2);
  expect_tag(*fresh, 12, 244, 1);
  close(fresh);
}

TEST_F(CachedLunTest, CrashBetweenUploadAndCommitReuploadsUnderANewName) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 0, 256, 1));
  ASSERT_TRUE(flush(*lun));
  hooks_->set(std::string(cache::kHookUploadAfterPut), [this]() -> boost::asio::awaitable<void> {
    fs_->power_loss();  // the object is in Swift, the local commit never happens
    co_return;
  });
  EXPECT_FALSE(drain(*lun, std::chrono::milliseconds(300)));
  hooks_->clear(std::string(cache::kHookUploadAfterPut));
  abandon(lun);
  fs_->revive();
  EXPECT_EQ(chunk_objects().size(), 1u);  // orphaned by the crash
  lun = open(fs_);
  EXPECT_EQ(lun->stats().dirty_blocks, 256u);
  ASSERT_TRUE(drain(*lun));  // same generation is taken (412): the next one is used
  EXPECT_EQ(chunk_objects().size(), 2u);
  close(lun);
  auto fresh = open(std::make_shared<FaultFs>());
  expect_tag(*fresh, 0, 256, 1);
  close(fresh);
}

TEST_F(CachedLunTest, OrphansAreFoundByListingAndDeletedOnlyAfterTheGrace) {
  cache_.orphan_grace = std::chrono::milliseconds(300);
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 0, 256, 1));
  ASSERT_TRUE(flush(*lun));
  hooks_->set(std::string(cache::kHookUploadAfterPut), [this]() -> boost::asio::awaitable<void> {
    fs_->power_loss();  // the object is in Swift, the local commit never happens
    co_return;
  });
  EXPECT_FALSE(drain(*lun, std::chrono::milliseconds(300)));
  hooks_->clear(std::string(cache::kHookUploadAfterPut));
  abandon(lun);
  fs_->revive();
  const auto crashed = chunk_objects();
  ASSERT_EQ(crashed.size(), 1u);  // orphaned by the crash
  lun = open(fs_);
  ASSERT_TRUE(write(*lun, 256, 256, 2));
  ASSERT_TRUE(drain(*lun));
  ASSERT_TRUE(run(lun->save_index_now()));  // a previous and a current index in Swift
  // Left by a gateway with another writer epoch, and a name we never write.
  const std::vector<std::byte> junk(4096, std::byte{1});
  const core::PutOptions plain;
  ASSERT_TRUE(
      run(store_->put({"lun1", "chunk/000000000005/00000007-0000000000000003"}, junk, plain)));
  ASSERT_TRUE(run(store_->put({"lun1", "chunk/not-ours"}, junk, plain)));
  ASSERT_EQ(chunk_objects().size(), 5u);

  auto first = run(lun->collect_orphans_now());
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(first->candidates, 2u);  // the crashed upload and the other epoch's object
  EXPECT_EQ(first->deleted, 0u);     // not yet unreferenced for the grace period
  EXPECT_EQ(chunk_objects().size(), 5u);
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  auto second = run(lun->collect_orphans_now());
  ASSERT_TRUE(second);
  EXPECT_EQ(second->deleted, 2u);
  EXPECT_EQ(lun->stats().orphans_deleted, 2u);
  auto left = chunk_objects();
  EXPECT_EQ(left.size(), 3u);
  EXPECT_EQ(std::count(left.begin(), left.end(), crashed[0]), 0);
  EXPECT_EQ(std::count(left.begin(), left.end(), "chunk/not-ours"), 1);
  // Nothing an index needs went: a gateway attaching from Swift reads everything.
  close(lun);
  auto fresh = open(std::make_shared<FaultFs>());
  expect_tag(*fresh, 0, 256, 1);
  expect_tag(*fresh, 256, 256, 2);
  close(fresh);
}

TEST_F(CachedLunTest, OrphanCollectionSparesUploadsInFlightAndWhatTheIndexesNeed) {
  cache_.orphan_grace = std::chrono::milliseconds(0);
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 0, 256, 1));
  ASSERT_TRUE(drain(*lun));  // index 1 names tag-1
  ASSERT_TRUE(write(*lun, 0, 256, 2));
  Gate gate;
  hooks_->set(std::string(cache::kHookUploadAfterPut), gate.fn());
  auto drained = boost::asio::co_spawn(ctx_, lun->drain(std::chrono::milliseconds(20000)),
                                       boost::asio::use_future);
  ASSERT_TRUE(pump_until([&] { return gate.arrived > 0; }));
  // The tag-2 object is in Swift but not yet committed: not an orphan. The tag-1 object is
  // still the current Swift index's: not an orphan either.
  ASSERT_EQ(chunk_objects().size(), 2u);
  auto r = run(lun->collect_orphans_now());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->candidates, 0u);
  EXPECT_EQ(chunk_objects().size(), 2u);
  hooks_->clear(std::string(cache::kHookUploadAfterPut));
  gate.open = true;
  ASSERT_TRUE(pump_until(
      [&] { return drained.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }));
  ASSERT_TRUE(drained.get());
  r = run(lun->collect_orphans_now());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->deleted, 0u);  // tag-1 is superseded: the journaled GC's, not an orphan
  // Swift unreachable: the pass fails and deletes nothing.
  store_->set_down(true);
  EXPECT_FALSE(run(lun->collect_orphans_now()));
  store_->set_down(false);
  close(lun);
  auto fresh = open(std::make_shared<FaultFs>());
  expect_tag(*fresh, 0, 256, 2);
  close(fresh);
}

TEST_F(CachedLunTest, CrashBetweenCommitAndSwiftIndexLeavesSwiftConsistent) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 0, 256, 1));
  ASSERT_TRUE(drain(*lun));  // index v1: chunk 0 = tag 1
  ASSERT_TRUE(write(*lun, 0, 256, 2));
  ASSERT_TRUE(flush(*lun));
  hooks_->set(std::string(cache::kHookIndexBeforePut), [this]() -> boost::asio::awaitable<void> {
    fs_->power_loss();       // the gateway dies after the chunk upload, before the index PUT
    store_->set_down(true);  // ... so nothing more reaches Swift from it
    co_return;
  });
  EXPECT_FALSE(drain(*lun, std::chrono::milliseconds(300)));
  hooks_->clear(std::string(cache::kHookIndexBeforePut));
  abandon(lun);
  store_->set_down(false);
  // Swift's index still names the tag-1 object, which garbage collection must not have
  // deleted: a fresh gateway reads consistent (older) data.
  {
    auto fresh = open(std::make_shared<FaultFs>());
    expect_tag(*fresh, 0, 256, 1);
    close(fresh);
  }
  fs_->revive();
  lun = open(fs_);
  expect_tag(*lun, 0, 256, 2);
  ASSERT_TRUE(drain(*lun));
  run(lun->collect_garbage_now());
  close(lun);
  auto fresh = open(std::make_shared<FaultFs>());
  expect_tag(*fresh, 0, 256, 2);
  close(fresh);
}

TEST_F(CachedLunTest, UnmapIsMetadataAndObjectsAreDeletedLazilyInBulk) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 0, 512, 1));
  ASSERT_TRUE(drain(*lun));
  ASSERT_EQ(chunk_objects().size(), 2u);
  const auto deletes = store_->calls(Verb::remove) + store_->calls(Verb::bulk_delete);
  std::vector<core::LbaRange> ranges = {{0, 256}, {300, 8}};
  ASSERT_TRUE(run(lun->unmap(ranges)));
  EXPECT_EQ(store_->calls(Verb::remove) + store_->calls(Verb::bulk_delete), deletes);
  expect_tag(*lun, 0, 256, 0);
  expect_tag(*lun, 256, 44, 1);
  expect_tag(*lun, 300, 8, 0);
  expect_tag(*lun, 308, 204, 1);
  ASSERT_TRUE(drain(*lun));
  run(lun->collect_garbage_now());
  // Chunk 0 has no object any more; chunk 1 has a new one; the old ones are gone.
  auto objs = chunk_objects();
  ASSERT_EQ(objs.size(), 1u);
  EXPECT_EQ(objs[0].rfind("chunk/000000000001/", 0), 0u);
  EXPECT_EQ(store_->calls(Verb::remove), 0u);
  close(lun);
  auto fresh = open(std::make_shared<FaultFs>());
  expect_tag(*fresh, 0, 256, 0);
  expect_tag(*fresh, 300, 8, 0);
  expect_tag(*fresh, 308, 204, 1);
  close(fresh);
}

TEST_F(CachedLunTest, MaxDirtyAgeUploadsAnIdleLun) {
  cache_.max_dirty_age = std::chrono::milliseconds(50);
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 0, 4, 1));
  EXPECT_TRUE(pump_until([&] { return lun->stats().dirty_blocks == 0; }));
  EXPECT_EQ(chunk_objects().size(), 1u);
  close(lun);
}

}  // namespace
}  // namespace swiftness::test
