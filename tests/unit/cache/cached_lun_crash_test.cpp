// CachedLun against MemoryObjectStore and FaultFs, power loss (fixture: lun_fixture.hpp):
// synchronized, FUA and write-cache-off writes survive it, and a crash after every mutating
// file call of a workload, with and without uploads, loses no durable write and tears none.
#include "cache/cached_lun.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <vector>

#include "tests/unit/cache/lun_fixture.hpp"

namespace swiftness::test {
namespace {

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

}  // namespace
}  // namespace swiftness::test
