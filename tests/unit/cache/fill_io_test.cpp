// The pieces a cold read's fetch and fill are made of: DoneSignal (readers waiting for a fetch
// another reader started resume when it lands, or at their deadline) and File::pwrite_uncached
// on the real file system (fills written around the page cache, read back intact).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "cache/done_signal.hpp"
#include "cache/file_system.hpp"

namespace swiftness::test {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Runs `ctx` on two threads (readers and fetches run on a multi-threaded io_context) until
// the guard goes.
struct TwoThreads {
  asio::io_context ctx{2};
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(ctx);
  std::thread a{[this] { ctx.run(); }};
  std::thread b{[this] { ctx.run(); }};
  ~TwoThreads() {
    work.reset();
    ctx.stop();
    a.join();
    b.join();
  }
};

// Waits on `s` until `deadline`; the result and how long it took.
std::pair<bool, Clock::duration> timed_wait(asio::io_context& ctx, cache::DoneSignal& s,
                                            Clock::time_point deadline) {
  auto f = asio::co_spawn(
      ctx,
      [&s, deadline]() -> asio::awaitable<std::pair<bool, Clock::duration>> {
        const auto t0 = Clock::now();
        auto waiting = s.wait(deadline);
        const bool set = co_await std::move(waiting);
        co_return std::make_pair(set, Clock::now() - t0);
      },
      asio::use_future);
  if (f.wait_for(30s) != std::future_status::ready) throw std::runtime_error("wait hung");
  return f.get();
}

TEST(DoneSignal, SetBeforeTheWaitReturnsAtOnce) {
  TwoThreads t;
  cache::DoneSignal s(t.ctx.get_executor());
  s.set();
  auto [set, took] = timed_wait(t.ctx, s, Clock::now() + 20s);
  EXPECT_TRUE(set);
  EXPECT_LT(took, 5s);
}

TEST(DoneSignal, EveryWaiterResumesWhenSetFromAnotherThread) {
  TwoThreads t;
  cache::DoneSignal s(t.ctx.get_executor());
  std::atomic<int> resumed{0};
  std::vector<std::future<bool>> waits;
  for (int i = 0; i < 8; ++i) {
    waits.push_back(asio::co_spawn(
        t.ctx,
        [&s, &resumed]() -> asio::awaitable<bool> {
          auto waiting = s.wait(Clock::now() + 20s);
          const bool set = co_await std::move(waiting);
          ++resumed;
          co_return set;
        },
        asio::use_future));
  }
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(resumed.load(), 0);  // nobody gives up or resumes early
  const auto t0 = Clock::now();
  std::thread setter([&s] { s.set(); });
  setter.join();
  for (auto& w : waits) {
    ASSERT_EQ(w.wait_for(30s), std::future_status::ready);
    EXPECT_TRUE(w.get());
  }
  // Far below the 20 s deadline: woken by set(), not by their timers.
  EXPECT_LT(Clock::now() - t0, 5s);
}

TEST(DoneSignal, TheDeadlineComesFirstWhenNothingIsSet) {
  TwoThreads t;
  cache::DoneSignal s(t.ctx.get_executor());
  auto [set, took] = timed_wait(t.ctx, s, Clock::now() + 100ms);
  EXPECT_FALSE(set);
  EXPECT_GE(took, 90ms);
  EXPECT_LT(took, 10s);
}

// Many short races between set() and deadlines, set from io threads and from other threads,
// on io_contexts run by 2 and 4 threads with the daemon's concurrency hint (1) and the
// thread-count hint. The first implementation's `||` cancelled the losing wait from the
// winner's thread: under ASan this crashed within seconds (cancellation_signal::emit on a
// freed handler); in CI a cold read waited forever. Every wait must end, by set() or by its
// deadline, and not long after the deadline.
TEST(DoneSignal, RacesBetweenSetAndDeadlinesOnManyThreadsAllEnd) {
  for (const auto& [hint, threads] : {std::pair{1, 2}, std::pair{2, 2}, std::pair{1, 4}}) {
    asio::io_context ctx{hint};
    auto work = asio::make_work_guard(ctx);
    std::vector<std::thread> runners;
    for (int i = 0; i < threads; ++i)
      runners.emplace_back([&ctx] { ctx.run(); });
    std::atomic<int> spawned{0}, ended{0};
    std::atomic<int64_t> worst_over_us{0};
    uint64_t rng = 0x9e3779b97f4a7c15ULL * uint64_t(hint * 10 + threads);
    auto next = [&rng] {
      rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
      return rng;
    };
    std::vector<std::thread> setters;
    for (int round = 0; round < 1500; ++round) {
      auto s = std::make_shared<cache::DoneSignal>(ctx.get_executor());
      const auto deadline = Clock::now() + std::chrono::microseconds(100 + next() % 2000);
      const int waiters = 1 + int(next() % 4);
      for (int w = 0; w < waiters; ++w) {
        ++spawned;
        asio::co_spawn(
            ctx,
            [s, deadline, &ended, &worst_over_us]() -> asio::awaitable<void> {
              auto waiting = s->wait(deadline);
              co_await std::move(waiting);
              const int64_t over =
                  std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - deadline)
                      .count();
              for (int64_t m = worst_over_us.load(); over > m;)
                if (worst_over_us.compare_exchange_weak(m, over)) break;
              ++ended;
            },
            asio::detached);
      }
      const auto set_after = std::chrono::microseconds(next() % 2500);
      if (next() % 2) {
        setters.emplace_back([s, set_after] {
          std::this_thread::sleep_for(set_after);
          s->set();
        });
      } else {
        auto t = std::make_shared<asio::steady_timer>(ctx, set_after);
        t->async_wait([s, t](boost::system::error_code) { s->set(); });
      }
      if (setters.size() >= 16) {
        for (auto& t : setters)
          t.join();
        setters.clear();
      }
    }
    for (auto& t : setters)
      t.join();
    const auto until = Clock::now() + 60s;
    while (ended.load() < spawned.load() && Clock::now() < until)
      std::this_thread::sleep_for(10ms);
    EXPECT_EQ(ended.load(), spawned.load()) << "hint " << hint << ", " << threads << " threads";
    // Each deadline is its own timer: a loaded machine (and ASan) delays it, nothing more.
    EXPECT_LT(worst_over_us.load(), 5'000'000) << "hint " << hint << ", " << threads << " threads";
    work.reset();
    ctx.stop();
    for (auto& t : runners)
      t.join();
  }
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    // Under the build tree's working directory, not /tmp, which may be tmpfs (no O_DIRECT).
    std::string tmpl = (std::filesystem::current_path() / "fill-io-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

std::vector<std::byte> pattern(size_t n, uint8_t seed) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = std::byte(uint8_t(seed + i * 7));
  return v;
}

TEST(PosixFile, AnUncachedWriteReadsBackAndLeavesThePageCacheAlone) {
  TempDir dir;
  auto fs = cache::make_posix_file_system(dir.path);
  auto f = fs->open("data", true, false);
  ASSERT_TRUE(f);
  cache::File& file = **f;
  constexpr size_t kLen = 1 << 20;
  ASSERT_TRUE(file.preallocate(4 * kLen));
  // Cached first (a buffered write, read back): an uncached write must not leave these
  // stale pages to be read instead of its bytes.
  auto before = pattern(kLen, 1);
  ASSERT_TRUE(file.pwrite(kLen, before));
  std::vector<std::byte> got(kLen);
  ASSERT_TRUE(file.pread(kLen, got));

  auto* aligned = static_cast<std::byte*>(std::aligned_alloc(cache::kDirectAlignment, kLen));
  ASSERT_NE(aligned, nullptr);
  auto after = pattern(kLen, 2);
  std::memcpy(aligned, after.data(), kLen);
  ASSERT_TRUE(file.pwrite_uncached(kLen, std::span<const std::byte>(aligned, kLen)));
  std::free(aligned);
  ASSERT_TRUE(file.pread(kLen, got));
  EXPECT_TRUE(got == after);

  // Unaligned (the fallback is a buffered write): the same bytes back.
  auto odd = pattern(kLen + 1, 3);
  ASSERT_TRUE(file.pwrite_uncached(2 * kLen, std::span<const std::byte>(odd.data() + 1, kLen)));
  ASSERT_TRUE(file.pread(2 * kLen, got));
  EXPECT_TRUE(std::equal(got.begin(), got.end(), odd.begin() + 1));

  // Where the file system takes O_DIRECT, the aligned write went around the page cache: its
  // pages are not cached (a nowait read finds nothing; it does after a buffered read).
  const int probe = ::open((dir.path / "data").c_str(), O_RDONLY | O_DIRECT);
  if (probe < 0) GTEST_SKIP() << "no O_DIRECT on " << dir.path << ": buffered only";
  ::close(probe);
  aligned = static_cast<std::byte*>(std::aligned_alloc(cache::kDirectAlignment, kLen));
  std::memcpy(aligned, before.data(), kLen);
  ASSERT_TRUE(file.pwrite_uncached(3 * kLen, std::span<const std::byte>(aligned, kLen)));
  std::free(aligned);
  EXPECT_FALSE(file.pread_nowait(3 * kLen, got));
  ASSERT_TRUE(file.pread(3 * kLen, got));
  EXPECT_TRUE(got == before);
  EXPECT_TRUE(file.pread_nowait(3 * kLen, got));
}

}  // namespace
}  // namespace swiftness::test
