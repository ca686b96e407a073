// CachedLun against MemoryObjectStore and FaultFs: the data path, drain and restart from
// Swift alone, restart from the local journal, power loss, forced interleavings with the
// flusher, Swift faults, unmap and garbage collection, backpressure, attach rules.
#include "cache/cached_lun.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>
#include <thread>

#include "tests/unit/cache/lun_fixture.hpp"

namespace swiftness::test {
namespace {

using core::block_errc;
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

class CachedLunTest : public LunFixture {};

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

TEST_F(CachedLunTest, PowerLossKeepsSynchronizedWritesAndTearsNothing) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    auto fs = std::make_shared<FaultFs>(seed);
    store_ = std::make_shared<core::MemoryObjectStore>();
    auto lun = open(fs);
    ASSERT_TRUE(write(*lun, 0, 8, 1));
    ASSERT_TRUE(flush(*lun));
    ASSERT_TRUE(write(*lun, 8, 64, 2));  // not synchronized
    ASSERT_TRUE(write(*lun, 0, 4, 3));   // not synchronized, over synchronized data
    fs->power_loss(FaultFs::Loss::keep_random);
    abandon(lun);
    fs->revive();
    lun = open(fs);
    ASSERT_TRUE(lun);
    auto got = read(*lun, 0, 72);
    ASSERT_TRUE(got);
    auto tag = [&](uint64_t b) { return tag_of(std::span(*got).subspan(b * kBlock, kBlock), b); };
    // Write 2 is all there or not at all; write 3 likewise, over write 1's durable data.
    for (uint64_t b = 9; b < 72; ++b)
      EXPECT_EQ(tag(b), tag(8)) << "seed " << seed;
    EXPECT_TRUE(tag(8) == 2 || tag(8) == 0);
    for (uint64_t b = 1; b < 4; ++b)
      EXPECT_EQ(tag(b), tag(0)) << "seed " << seed;
    EXPECT_TRUE(tag(0) == 3 || tag(0) == 1) << "seed " << seed;
    for (uint64_t b = 4; b < 8; ++b)
      EXPECT_EQ(tag(b), 1) << "seed " << seed;
    close(lun);
  }
}

TEST_F(CachedLunTest, FuaAndWceOffWritesSurvivePowerLoss) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 0, 4, 1, /*fua=*/true));
  lun->set_write_cache_enabled(false);
  ASSERT_TRUE(write(*lun, 100, 4, 2));
  fs_->power_loss();
  abandon(lun);
  fs_->revive();
  lun = open(fs_);
  expect_tag(*lun, 0, 4, 1);
  expect_tag(*lun, 100, 4, 2);
  close(lun);
}

// The brief's "power loss at every journal step": run one workload, cut the power after each
// mutating file call in turn, restart, and check every synchronized write is there, every
// block holds one of the versions written to it, and no multi-block write is torn.
TEST_F(CachedLunTest, CrashAtEveryStep) {
  struct Op {
    uint64_t lba;
    uint32_t blocks;
    bool fua;
    bool flush_after;
    bool checkpoint_after;
  };
  std::mt19937 rng(7);
  std::vector<Op> ops;
  for (int i = 0; i < 24; ++i) {
    uint64_t lba = rng() % 600;
    ops.push_back({lba, 1 + uint32_t(rng() % 40), rng() % 6 == 0, rng() % 4 == 0, i == 12});
  }
  // `tried`: every write issued (a failed one may still have happened); `durable`: writes
  // acknowledged as durable (FUA, or acknowledged before a successful SYNCHRONIZE CACHE).
  auto workload = [&](cache::CachedLun& lun, std::vector<int>& tried, std::vector<int>& durable) {
    std::vector<int> acked;
    for (size_t i = 0; i < ops.size(); ++i) {
      const Op& op = ops[i];
      tried.push_back(int(i));
      if (!write(lun, op.lba, op.blocks, uint8_t(i + 1), op.fua)) continue;
      acked.push_back(int(i));
      if (op.fua) durable.push_back(int(i));
      if (op.flush_after && flush(lun)) durable = acked;
      if (op.checkpoint_after) (void)run(lun.checkpoint_now());
    }
  };
  uint64_t total_ops = 0;
  {
    auto fs = std::make_shared<FaultFs>();
    auto lun = open(fs);
    uint64_t before = fs->mutating_ops();
    std::vector<int> a, d;
    workload(*lun, a, d);
    total_ops = fs->mutating_ops() - before;
    ASSERT_EQ(d.size() > 0, true);
    close(lun);
  }
  ASSERT_GT(total_ops, 50u);
  for (uint64_t k = 1; k <= total_ops; ++k) {
    for (auto loss : {FaultFs::Loss::drop_unsynced, FaultFs::Loss::keep_random}) {
      store_ = std::make_shared<core::MemoryObjectStore>();
      auto fs = std::make_shared<FaultFs>(uint32_t(k));
      auto lun = open(fs);
      ASSERT_TRUE(lun);
      fs->crash_after(k, loss);
      std::vector<int> acked, durable;  // acked: every write tried
      workload(*lun, acked, durable);
      if (!fs->dead()) fs->power_loss(loss);
      abandon(lun);
      fs->revive();
      lun = open(fs);
      ASSERT_TRUE(lun) << "step " << k;
      auto got = read(*lun, 0, 640);
      ASSERT_TRUE(got);
      // Per block: the versions written, in order, and the newest durable one.
      std::vector<std::vector<int>> history(640);
      std::vector<int> floor(640, -1);
      for (int i : acked) {
        for (uint32_t b = 0; b < ops[i].blocks; ++b)
          history[ops[i].lba + b].push_back(i + 1);
      }
      for (int i : durable) {
        for (uint32_t b = 0; b < ops[i].blocks; ++b) {
          auto& h = history[ops[i].lba + b];
          int pos = int(std::find(h.begin(), h.end(), i + 1) - h.begin());
          floor[ops[i].lba + b] = std::max(floor[ops[i].lba + b], pos);
        }
      }
      auto pos_of = [&](uint64_t b) {
        int t = tag_of(std::span(*got).subspan(b * kBlock, kBlock), b);
        if (t == 0) return -1;
        auto& h = history[b];
        auto it = std::find(h.begin(), h.end(), t);
        return it == h.end() ? -2 : int(it - h.begin());
      };
      for (uint64_t b = 0; b < 640; ++b) {
        int p = pos_of(b);
        ASSERT_NE(p, -2) << "step " << k << " lba " << b << ": bytes nobody wrote";
        ASSERT_GE(p, floor[b]) << "step " << k << " lba " << b << ": a durable write was lost";
      }
      // No torn write: if any block shows write i, every block of it shows i or later.
      for (int i : acked) {
        bool seen = false, all = true;
        for (uint32_t b = 0; b < ops[i].blocks; ++b) {
          uint64_t l = ops[i].lba + b;
          int p = pos_of(l);
          auto& h = history[l];
          int mine = int(std::find(h.begin(), h.end(), i + 1) - h.begin());
          seen = seen || p == mine;
          all = all && p >= mine;
        }
        ASSERT_TRUE(!seen || all) << "step " << k << ": write " << i << " is torn";
      }
      close(lun);
    }
  }
}

// The same with uploads in the workload: a crash at any step of a drain (data sync, clean
// record, Swift index, journal sync) leaves a cache that still holds every durable write, and
// after restart + drain a fresh gateway reads from Swift exactly what the restarted one reads.
TEST_F(CachedLunTest, CrashAtEveryStepWithUploads) {
  struct Op {
    uint64_t lba;
    uint32_t blocks;
    bool drain_after;
  };
  std::mt19937 rng(11);
  std::vector<Op> ops;
  for (int i = 0; i < 14; ++i) {
    ops.push_back({rng() % 700, 1 + uint32_t(rng() % 300), i == 4 || i == 9 || i == 13});
  }
  auto workload = [&](cache::CachedLun& lun, std::vector<int>& tried, std::vector<int>& durable) {
    std::vector<int> acked;
    for (size_t i = 0; i < ops.size(); ++i) {
      tried.push_back(int(i));
      if (!write(lun, ops[i].lba, ops[i].blocks, uint8_t(i + 1))) continue;
      acked.push_back(int(i));
      if (ops[i].drain_after && drain(lun, std::chrono::milliseconds(2000))) durable = acked;
    }
  };
  uint64_t total_ops = 0;
  {
    auto fs = std::make_shared<FaultFs>();
    auto lun = open(fs);
    uint64_t before = fs->mutating_ops();
    std::vector<int> a, d;
    workload(*lun, a, d);
    total_ops = fs->mutating_ops() - before;
    ASSERT_EQ(d.size(), ops.size());
    close(lun);
  }
  for (uint64_t k = 1; k <= total_ops; ++k) {
    store_ = std::make_shared<core::MemoryObjectStore>();
    auto fs = std::make_shared<FaultFs>(uint32_t(k));
    auto lun = open(fs);
    ASSERT_TRUE(lun);
    const auto loss = k % 2 ? FaultFs::Loss::keep_random : FaultFs::Loss::drop_unsynced;
    fs->crash_after(k, loss);
    std::vector<int> tried, durable;
    workload(*lun, tried, durable);
    if (!fs->dead()) fs->power_loss(loss);
    abandon(lun);
    fs->revive();
    lun = open(fs);
    ASSERT_TRUE(lun) << "step " << k;
    auto got = read(*lun, 0, 1000);
    ASSERT_TRUE(got) << "step " << k << ": " << got.error().message();
    std::vector<std::vector<int>> history(1000);
    std::vector<int> floor(1000, -1);
    for (int i : tried) {
      for (uint32_t b = 0; b < ops[i].blocks; ++b)
        history[ops[i].lba + b].push_back(i + 1);
    }
    for (int i : durable) {
      for (uint32_t b = 0; b < ops[i].blocks; ++b) {
        auto& h = history[ops[i].lba + b];
        int pos = int(std::find(h.begin(), h.end(), i + 1) - h.begin());
        floor[ops[i].lba + b] = std::max(floor[ops[i].lba + b], pos);
      }
    }
    for (uint64_t b = 0; b < 1000; ++b) {
      int t = tag_of(std::span(*got).subspan(b * kBlock, kBlock), b);
      int p = -1;
      if (t != 0) {
        auto it = std::find(history[b].begin(), history[b].end(), t);
        ASSERT_NE(it, history[b].end()) << "step " << k << " lba " << b << ": bytes nobody wrote";
        p = int(it - history[b].begin());
      }
      ASSERT_GE(p, floor[b]) << "step " << k << " lba " << b << ": a durable write was lost";
    }
    ASSERT_TRUE(drain(*lun)) << "step " << k;
    close(lun);
    auto fresh = open(std::make_shared<FaultFs>());
    auto again = read(*fresh, 0, 1000);
    ASSERT_TRUE(again) << "step " << k;
    ASSERT_TRUE(*again == *got) << "step " << k << ": Swift does not hold what the cache held";
    close(fresh);
  }
}

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
