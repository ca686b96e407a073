// Concurrency: several coroutines on a two-thread io_context write, read, unmap and flush
// interleaved stripes of the same chunks while the flusher uploads, the cache evicts and
// checkpoints; every read must match a model, and so must a fresh gateway after drain.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/use_future.hpp>
#include <random>
#include <thread>

#include "tests/unit/cache/lun_fixture.hpp"

namespace swiftness::test {
namespace {

class CachedLunStressTest : public LunFixture {};

TEST_F(CachedLunStressTest, ConcurrentStripesMatchTheModel) {
  cache_.size_bytes = 4u << 20;  // 1024 pages for a 4096-block LUN: eviction and refetch
  cache_.dirty_low_watermark = 0.1;
  cache_.dirty_high_watermark = 0.4;
  cache_.max_dirty_age = std::chrono::milliseconds(20);
  cache_.checkpoint_data_bytes = 1u << 20;
  cache_.write_wait_limit = std::chrono::milliseconds(10000);
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&] { io.run(); });
  // The LUN's flusher runs on the threaded io_context too.
  cache::CachedLunOptions o;
  o.fs = fs_;
  auto opened =
      boost::asio::co_spawn(
          io,
          cache::CachedLun::open(io.get_executor(), pool_.get_executor(), store_, lun_, cache_, o),
          boost::asio::use_future)
          .get();
  ASSERT_TRUE(opened);
  auto lun = *opened;

  constexpr int kWorkers = 4;
  constexpr uint64_t kBlocks = 2048;  // the first half of the LUN
  // Worker w owns the 4-block stripes s with s % kWorkers == w: every chunk is shared.
  std::vector<std::vector<int>> model(kWorkers, std::vector<int>(kBlocks, 0));
  std::atomic<int> failures{0};
  auto worker = [&](int w) -> boost::asio::awaitable<void> {
    std::mt19937 rng(100 + w);
    std::vector<int>& m = model[w];
    for (int op = 0; op < 250; ++op) {
      uint64_t stripe = (rng() % (kBlocks / 4 / kWorkers)) * kWorkers + w;
      uint64_t lba = stripe * 4;
      uint32_t n = 1 + rng() % 4;
      int kind = rng() % 10;
      if (kind < 5) {
        uint8_t tag = uint8_t(1 + (op * kWorkers + w) % 250);
        auto data = pattern(lba, n, tag);
        auto r = co_await lun->write(lba, data, core::WriteFlags{rng() % 8 == 0});
        if (!r) {
          ++failures;
          continue;
        }
        for (uint32_t b = 0; b < n; ++b)
          m[lba + b] = tag;
      } else if (kind < 9) {
        std::vector<std::byte> buf(size_t(n) * kBlock);
        auto r = co_await lun->read(lba, buf);
        if (!r) {
          ++failures;
          continue;
        }
        for (uint32_t b = 0; b < n; ++b) {
          int t = tag_of(std::span(buf).subspan(size_t(b) * kBlock, kBlock), lba + b);
          if (t != m[lba + b]) {
            ADD_FAILURE() << "worker " << w << " lba " << lba + b << " read " << t << " expected "
                          << m[lba + b];
            ++failures;
          }
        }
      } else if (rng() % 2) {
        std::vector<core::LbaRange> ranges = {{lba, n}};
        if (!co_await lun->unmap(ranges)) {
          ++failures;
          continue;
        }
        for (uint32_t b = 0; b < n; ++b)
          m[lba + b] = 0;
      } else {
        if (!co_await lun->flush({0, 0})) ++failures;
      }
    }
  };
  std::vector<std::future<void>> done;
  for (int w = 0; w < kWorkers; ++w) {
    done.push_back(boost::asio::co_spawn(io, worker(w), boost::asio::use_future));
  }
  for (auto& f : done) {
    for (int i = 0; i < 45 && f.wait_for(std::chrono::seconds(2)) != std::future_status::ready;
         ++i) {
      auto st = lun->stats();
      std::fprintf(
          stderr,
          "dirty %lu used %lu free %lu quarantined %lu uploads %lu fails %lu ckpt %lu fetch %lu\n",
          st.dirty_blocks, st.used_pages, st.free_pages, st.quarantined_pages, st.uploads,
          st.upload_failures, st.checkpoints, st.fetches);
    }
    ASSERT_EQ(f.wait_for(std::chrono::seconds(0)), std::future_status::ready);
    f.get();
  }
  auto drained = boost::asio::co_spawn(io, lun->drain(std::chrono::milliseconds(30000)),
                                       boost::asio::use_future);
  ASSERT_EQ(drained.wait_for(std::chrono::seconds(40)), std::future_status::ready);
  EXPECT_TRUE(drained.get());
  auto stats = lun->stats();
  EXPECT_GT(stats.uploads, 10u);
  EXPECT_GT(stats.checkpoints, 1u);
  boost::asio::co_spawn(io, lun->close(), boost::asio::use_future).get();
  lun.reset();
  guard.reset();
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(failures.load(), 0);

  auto fresh = open(std::make_shared<FaultFs>());
  ASSERT_TRUE(fresh);
  auto all = read(*fresh, 0, uint32_t(kBlocks));
  ASSERT_TRUE(all);
  for (uint64_t b = 0; b < kBlocks; ++b) {
    int owner = int((b / 4) % kWorkers);
    ASSERT_EQ(tag_of(std::span(*all).subspan(b * kBlock, kBlock), b), model[owner][b])
        << "lba " << b;
  }
  close(fresh);
}

}  // namespace
}  // namespace swiftness::test
