// Group commit of cache writes (cache/write_batch.hpp, issue 7): the writes that queue while the
// pool is busy are committed by one pool job, their data first and then one journal append of
// all their records. What must not change with it: overlapping writes keep their arrival order
// (in the state and at replay), a failed data write fails exactly the writes that had pages in
// it, and a crash between any two steps of a batch leaves every write all there or not at all.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <future>
#include <mutex>
#include <optional>

#include "cache/cached_lun.hpp"
#include "tests/unit/cache/lun_fixture.hpp"

namespace swiftness::test {
namespace {

namespace asio = boost::asio;

// Fails the data-file writes that carry a block of a given tag (pattern()'s byte 8), with EIO.
class TagFailFs final : public cache::FileSystem {
 public:
  TagFailFs(std::shared_ptr<cache::FileSystem> inner, uint32_t block)
      : inner_(std::move(inner)), block_(block) {}
  void fail_tag(int tag) { bad_tag_ = tag; }
  int failed_writes() const { return failed_writes_; }

  core::Result<std::unique_ptr<cache::File>> open(const std::string& name, bool create,
                                                  bool direct) override {
    auto f = inner_->open(name, create, direct);
    if (!f) return f.error();
    if (name.find(".data") == std::string::npos) return f;
    return std::unique_ptr<cache::File>(new Wrapped(this, std::move(*f)));
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
    Wrapped(TagFailFs* fs, std::unique_ptr<cache::File> f) : fs_(fs), f_(std::move(f)) {}
    core::Result<void> pwrite(uint64_t off, std::span<const std::byte> d) override {
      for (size_t b = 0; fs_->bad_tag_ >= 0 && b + fs_->block_ <= d.size(); b += fs_->block_) {
        if (int(d[b + 8]) == fs_->bad_tag_) {
          ++fs_->failed_writes_;
          return std::error_code(EIO, std::generic_category());
        }
      }
      return f_->pwrite(off, d);
    }
    core::Result<void> pread(uint64_t off, std::span<std::byte> out) override {
      return f_->pread(off, out);
    }
    core::Result<void> sync() override { return f_->sync(); }
    core::Result<uint64_t> size() override { return f_->size(); }
    core::Result<void> preallocate(uint64_t bytes) override { return f_->preallocate(bytes); }

   private:
    TagFailFs* fs_;
    std::unique_ptr<cache::File> f_;
  };

  std::shared_ptr<cache::FileSystem> inner_;
  uint32_t block_;
  std::atomic<int> bad_tag_{-1};
  std::atomic<int> failed_writes_{0};
};

struct Op {
  uint64_t lba;
  uint32_t blocks;
  uint8_t tag;
  bool fua = false;
};

class WriteBatchTest : public LunFixture {
 protected:
  // Starts `ops` while both pool threads are held, so that each reaches the batcher's queue,
  // then lets the pool go: one batch commits them all. Returns each write's result.
  std::vector<core::Result<void>> write_together(cache::CachedLun& lun,
                                                 const std::vector<Op>& ops) {
    std::promise<void> gate;
    std::shared_future<void> open_gate = gate.get_future().share();
    for (int i = 0; i < 2; ++i)  // the fixture's pool has two threads
      asio::post(pool_, [open_gate] { open_gate.wait(); });
    std::vector<std::vector<std::byte>> data;
    std::vector<std::optional<core::Result<void>>> results(ops.size());
    for (const Op& op : ops)
      data.push_back(pattern(op.lba, op.blocks, op.tag));
    for (size_t i = 0; i < ops.size(); ++i) {
      core::WriteFlags f;
      f.fua = ops[i].fua;
      asio::co_spawn(ctx_, lun.write(ops[i].lba, data[i], f),
                     [&results, i](std::exception_ptr e, core::Result<void> r) {
                       if (e) std::rethrow_exception(e);
                       results[i] = r;
                     });
    }
    // Every write runs up to its wait for the pool (allocation happens on the io thread).
    ctx_.restart();
    for (int i = 0; i < 10000 && ctx_.poll() > 0; ++i) {
    }
    gate.set_value();
    EXPECT_TRUE(pump_until([&] {
      return std::all_of(results.begin(), results.end(), [](auto& r) { return r.has_value(); });
    })) << "writes did not complete";
    std::vector<core::Result<void>> out;
    for (auto& r : results)
      out.push_back(r.value_or(core::Result<void>(core::block_errc::busy)));
    return out;
  }
};

TEST_F(WriteBatchTest, OverlappingWritesInOneBatchKeepArrivalOrderAndReplayTheSame) {
  auto lun = open(fs_);
  ASSERT_TRUE(lun);
  const std::vector<Op> ops = {{10, 8, 1}, {12, 4, 2}, {14, 8, 3}, {9, 2, 4}, {30, 1, 5}};
  const auto before = lun->stats();
  auto r = write_together(*lun, ops);
  for (size_t i = 0; i < r.size(); ++i)
    ASSERT_TRUE(r[i]) << "write " << i << ": " << r[i].error().message();
  const auto after = lun->stats();
  EXPECT_EQ(after.write_batches - before.write_batches, 1u) << "not one batch";
  EXPECT_EQ(after.batched_writes - before.batched_writes, ops.size());
  auto check = [&](cache::CachedLun& l) {
    expect_tag(l, 9, 2, 4);  // the last write wins where they overlap
    expect_tag(l, 11, 1, 1);
    expect_tag(l, 12, 2, 2);
    expect_tag(l, 14, 8, 3);
    expect_tag(l, 30, 1, 5);
  };
  check(*lun);
  // Replay applies the batch's records in the same order (no checkpoint in between).
  ASSERT_TRUE(flush(*lun));
  fs_->power_loss();
  abandon(lun);
  fs_->revive();
  lun = open(fs_);
  ASSERT_TRUE(lun);
  EXPECT_GE(lun->stats().replayed_records, ops.size());
  check(*lun);
  close(lun);
}

TEST_F(WriteBatchTest, AFailedDataWriteFailsOnlyTheWritesWithPagesInIt) {
  auto tfs = std::make_shared<TagFailFs>(fs_, kBlock);
  cache::CachedLunOptions o;
  o.fs = tfs;
  o.hooks = hooks_;
  auto opened = run(
      cache::CachedLun::open(ctx_.get_executor(), pool_.get_executor(), store_, lun_, cache_, o));
  ASSERT_TRUE(opened) << opened.error().message();
  auto lun = *opened;
  // Neighbouring pages are joined into data writes of up to 1 MiB (256 pages here): the first
  // two writes share one, the third has its own, and only that one fails.
  tfs->fail_tag(3);
  const std::vector<Op> ops = {{0, 128, 1}, {200, 128, 2}, {400, 128, 3}};
  auto r = write_together(*lun, ops);
  EXPECT_EQ(lun->stats().write_batches, 1u);
  ASSERT_TRUE(r[0]) << r[0].error().message();
  ASSERT_TRUE(r[1]) << r[1].error().message();
  ASSERT_FALSE(r[2]) << "a write whose data failed was acknowledged";
  EXPECT_EQ(r[2].error(), core::block_errc::medium_error);  // EIO: MEDIUM ERROR, WRITE ERROR
  EXPECT_EQ(tfs->failed_writes(), 1);
  expect_tag(*lun, 0, 128, 1);
  expect_tag(*lun, 200, 128, 2);
  expect_tag(*lun, 400, 128, 0);  // never written
  // A data write does not stop writes (the journal has no hole): the next batch works.
  tfs->fail_tag(-1);
  EXPECT_FALSE(lun->stats().writes_stopped);
  auto again = write_together(*lun, {{400, 8, 6}, {0, 8, 7}});
  ASSERT_TRUE(again[0] && again[1]);
  expect_tag(*lun, 400, 8, 6);
  expect_tag(*lun, 0, 8, 7);
  expect_tag(*lun, 8, 120, 1);
  // Failing the first write's tag fails the writes that shared its data write, not the third.
  tfs->fail_tag(8);
  auto shared = write_together(*lun, {{1000, 128, 8}, {1200, 128, 9}, {1400, 128, 10}});
  EXPECT_FALSE(shared[0]);
  EXPECT_FALSE(shared[1]);
  EXPECT_TRUE(shared[2]);
  expect_tag(*lun, 1200, 128, 0);
  expect_tag(*lun, 1400, 128, 10);
  close(lun);
}

// A power loss at every step of a batch (its data writes, the journal append, the FUA's
// fdatasyncs and data_synced record), with the unsynced writes dropped or kept in random torn
// parts: after replay each write of the batch is all there or not at all, an acknowledged FUA
// write and everything batched before it is there, and the durable writes before the batch are.
TEST_F(WriteBatchTest, CrashAtEveryStepOfABatch) {
  const std::vector<Op> base = {{0, 64, 1}, {100, 64, 2}};
  const std::vector<Op> batch = {
      {10, 20, 3}, {20, 8, 4}, {60, 50, 5}, {25, 1, 6}, {150, 16, 7, /*fua=*/true}};
  uint64_t steps = 0;
  {
    auto fs = std::make_shared<FaultFs>();
    auto lun = open(fs);
    ASSERT_TRUE(lun);
    for (const Op& op : base)
      ASSERT_TRUE(write(*lun, op.lba, op.blocks, op.tag, true));
    const uint64_t before = fs->mutating_ops();
    auto r = write_together(*lun, batch);
    for (auto& x : r)
      ASSERT_TRUE(x);
    steps = fs->mutating_ops() - before;
    close(lun);
  }
  ASSERT_GE(steps, 3u);  // data, journal, and the FUA's syncs at least
  for (uint64_t k = 1; k <= steps + 1; ++k) {
    for (auto loss : {FaultFs::Loss::drop_unsynced, FaultFs::Loss::keep_random}) {
      SCOPED_TRACE("step " + std::to_string(k) +
                   (loss == FaultFs::Loss::keep_random ? " keep_random" : " drop_unsynced"));
      store_ = std::make_shared<core::MemoryObjectStore>();
      auto fs = std::make_shared<FaultFs>(uint32_t(k));
      auto lun = open(fs);
      ASSERT_TRUE(lun);
      for (const Op& op : base)
        ASSERT_TRUE(write(*lun, op.lba, op.blocks, op.tag, true));
      fs->crash_after(k, loss);
      auto r = write_together(*lun, batch);
      if (!fs->dead()) fs->power_loss(loss);
      abandon(lun);
      fs->revive();
      lun = open(fs);
      ASSERT_TRUE(lun);
      auto got = read(*lun, 0, 200);
      ASSERT_TRUE(got);
      auto tag_at = [&](uint64_t b) {
        return tag_of(std::span(*got).subspan(b * kBlock, kBlock), b);
      };
      // What each block may show: the base write under it (or zeros), or a batch write over it.
      for (uint64_t b = 0; b < 200; ++b) {
        int t = tag_at(b);
        bool ok = t == 0;
        for (const Op& op : base)
          ok = ok || (t == op.tag && b >= op.lba && b < op.lba + op.blocks);
        for (const Op& op : batch)
          ok = ok || (t == op.tag && b >= op.lba && b < op.lba + op.blocks);
        ASSERT_TRUE(ok) << "lba " << b << " shows " << t;
      }
      // Durable base writes survive wherever no batch write covers them.
      for (const Op& op : base) {
        for (uint64_t b = op.lba; b < op.lba + op.blocks; ++b) {
          bool covered = false;
          for (const Op& w : batch)
            covered = covered || (b >= w.lba && b < w.lba + w.blocks);
          if (!covered) {
            ASSERT_EQ(tag_at(b), op.tag) << "durable lba " << b << " lost";
          }
        }
      }
      // All or nothing per write: a write that shows anywhere shows on every block that no
      // later write of the batch covers.
      std::vector<bool> present(batch.size());
      for (size_t i = 0; i < batch.size(); ++i) {
        const Op& op = batch[i];
        bool seen = false, all = true;
        for (uint64_t b = op.lba; b < op.lba + op.blocks; ++b) {
          bool later = false;
          for (size_t j = i + 1; j < batch.size(); ++j)
            later = later || (b >= batch[j].lba && b < batch[j].lba + batch[j].blocks);
          if (later) continue;
          seen = seen || tag_at(b) == op.tag;
          all = all && tag_at(b) == op.tag;
        }
        ASSERT_TRUE(!seen || all) << "write " << i << " is torn";
        present[i] = seen;
      }
      // An acknowledged FUA write was made durable with every record before it.
      if (r.back()) {
        for (size_t i = 0; i < batch.size(); ++i)
          EXPECT_TRUE(!r[i] || present[i]) << "write " << i << " acknowledged before the FUA";
      }
      close(lun);
    }
  }
}

}  // namespace
}  // namespace swiftness::test
