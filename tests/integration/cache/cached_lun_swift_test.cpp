// CachedLun over the real Swift client against the real Swift (CTest fixture swift_aio): write
// patterns across chunks, SYNCHRONIZE CACHE, drain, then a fresh gateway with an empty cache
// directory reads every byte back from Swift alone; compressed LUNs likewise; attach rules.
// Skipped when no Swift is running (run under ctest).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "cache/cached_lun.hpp"
#include "swift/swift_store.hpp"
#include "tests/integration/swift/swift_aio_env.hpp"

namespace swiftness {
namespace {

namespace asio = boost::asio;

class CachedLunSwift : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = testing::swift_aio_env();
    if (!env_) GTEST_SKIP() << "no Swift: run under ctest (fixture swift_aio)";
    for (int i = 0; i < 2; ++i)
      threads_.emplace_back([this] { io_.run(); });
    swift::SwiftConfig cfg;
    cfg.auth_url = env_->auth_url;
    cfg.user = env_->user;
    cfg.key = env_->key;
    store_ = std::make_shared<swift::SwiftStore>(io_.get_executor(), cfg);
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp ? tmp : "/tmp") + "/cached-lun-swift-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    // A container per test run: tests run in parallel against the same Swift.
    lun_.container = "cachetest-" + std::filesystem::path(dir_).filename().string();
    lun_.size_bytes = 64u << 20;
    lun_.block_size = 4096;
    lun_.chunk_size = 1u << 20;
    cache_.size_bytes = 32u << 20;
    cache_.max_dirty_age = std::chrono::milliseconds(500);
    cache_.gc_grace = std::chrono::milliseconds(0);
  }
  void TearDown() override {
    guard_.reset();
    for (auto& t : threads_)
      t.join();
    pool_.join();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  template <class T>
  T run(asio::awaitable<T> aw) {
    auto f = asio::co_spawn(io_, std::move(aw), asio::use_future);
    if (f.wait_for(std::chrono::seconds(90)) != std::future_status::ready) {
      ADD_FAILURE() << "timed out";
      std::abort();
    }
    return f.get();
  }
  std::shared_ptr<cache::CachedLun> open(const std::string& cache_dir) {
    cache::CacheConfig c = cache_;
    c.dir = std::filesystem::path(dir_) / cache_dir;
    auto r = run(cache::CachedLun::open(io_.get_executor(), pool_.get_executor(), store_, lun_, c));
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
    return r ? *r : nullptr;
  }
  static std::vector<std::byte> pattern(uint64_t lba, uint32_t blocks, uint8_t tag) {
    std::vector<std::byte> v(size_t(blocks) * 4096);
    std::mt19937 rng(uint32_t(lba * 131 + tag));
    for (auto& b : v)
      b = std::byte(rng());
    return v;
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_ = asio::make_work_guard(io_);
  std::vector<std::thread> threads_;
  asio::thread_pool pool_{2};
  std::optional<testing::SwiftAioEnv> env_;
  std::shared_ptr<swift::SwiftStore> store_;
  std::string dir_;
  cache::LunConfig lun_;
  cache::CacheConfig cache_;
};

TEST_F(CachedLunSwift, DrainedDataReadsBackFromSwiftAlone) {
  struct W {
    uint64_t lba;
    uint32_t blocks;
  };
  const std::vector<W> writes = {{0, 256}, {250, 20}, {1000, 3}, {4096 * 4 - 8, 8}, {7000, 512}};
  auto lun = open("a");
  ASSERT_TRUE(lun);
  for (size_t i = 0; i < writes.size(); ++i) {
    auto d = pattern(writes[i].lba, writes[i].blocks, uint8_t(i));
    ASSERT_TRUE(run(lun->write(writes[i].lba, d, {})));
  }
  ASSERT_TRUE(run(lun->flush({0, 0})));
  ASSERT_TRUE(run(lun->drain(std::chrono::milliseconds(60000))));
  EXPECT_EQ(lun->stats().dirty_blocks, 0u);
  run(lun->close());
  lun.reset();

  auto fresh = open("b");  // empty cache directory: everything comes from Swift
  ASSERT_TRUE(fresh);
  std::vector<std::vector<std::byte>> patterns;
  for (size_t i = 0; i < writes.size(); ++i) {
    patterns.push_back(pattern(writes[i].lba, writes[i].blocks, uint8_t(i)));
  }
  for (size_t i = 0; i < writes.size(); ++i) {
    // Later writes overlap earlier ones; compare against the newest writer per block.
    std::vector<std::byte> got(size_t(writes[i].blocks) * 4096);
    ASSERT_TRUE(run(fresh->read(writes[i].lba, got)));
    for (uint32_t b = 0; b < writes[i].blocks; ++b) {
      uint64_t lba = writes[i].lba + b;
      size_t newest = i;
      for (size_t j = i + 1; j < writes.size(); ++j) {
        if (lba >= writes[j].lba && lba < writes[j].lba + writes[j].blocks) newest = j;
      }
      const auto& want = patterns[newest];
      ASSERT_EQ(std::memcmp(got.data() + size_t(b) * 4096,
                            want.data() + size_t(lba - writes[newest].lba) * 4096, 4096),
                0)
          << "lba " << lba;
    }
  }
  std::vector<std::byte> zeros(4096 * 4), got(4096 * 4, std::byte{1});
  ASSERT_TRUE(run(fresh->read(3000, got)));
  EXPECT_EQ(got, zeros);
  EXPECT_GE(fresh->stats().fetches, 4u);
  run(fresh->close());
}

TEST_F(CachedLunSwift, CompressedLunAndAttachRules) {
  lun_.compression = true;
  auto lun = open("a");
  ASSERT_TRUE(lun);
  std::vector<std::byte> data(1u << 20, std::byte{0x5a});
  ASSERT_TRUE(run(lun->write(256, data, {})));
  ASSERT_TRUE(run(lun->drain(std::chrono::milliseconds(60000))));
  run(lun->close());
  lun.reset();
  lun_.block_size = 512;
  {
    cache::CacheConfig c = cache_;
    c.dir = std::filesystem::path(dir_) / "c";
    auto r = run(cache::CachedLun::open(io_.get_executor(), pool_.get_executor(), store_, lun_, c));
    EXPECT_FALSE(r);  // another block size: refused
  }
  lun_.block_size = 4096;
  auto fresh = open("b");
  ASSERT_TRUE(fresh);
  std::vector<std::byte> got(1u << 20);
  ASSERT_TRUE(run(fresh->read(256, got)));
  EXPECT_EQ(got, data);
  run(fresh->close());
}

// Real Swift answers a ranged GET with 206 and the object's metadata (the granule table), keeps
// the table in its xattrs, and a cold read of two blocks moves one 64 KiB granule.
TEST_F(CachedLunSwift, ColdReadOfAFewBlocksIsARangedGetCheckedPerGranule) {
  auto lun = open("a");
  ASSERT_TRUE(lun);
  const auto data = pattern(0, 256, 7);  // chunk 0, whole
  ASSERT_TRUE(run(lun->write(0, data, {})));
  ASSERT_TRUE(run(lun->drain(std::chrono::milliseconds(60000))));
  run(lun->close());
  lun.reset();
  auto fresh = open("b");
  ASSERT_TRUE(fresh);
  std::vector<std::byte> got(2 * 4096);
  ASSERT_TRUE(run(fresh->read(100, got)));
  EXPECT_EQ(std::memcmp(got.data(), data.data() + 100 * 4096, got.size()), 0);
  auto st = fresh->stats();
  EXPECT_EQ(st.ranged_fetches, 1u);
  EXPECT_EQ(st.fetched_bytes, 65536u);
  EXPECT_EQ(st.checksum_failures, 0u);
  std::vector<std::byte> all(1u << 20);
  ASSERT_TRUE(run(fresh->read(0, all)));  // the whole chunk: one whole GET
  EXPECT_EQ(all, data);
  EXPECT_EQ(fresh->stats().ranged_fetches, 1u);
  run(fresh->close());
}

// Objects no index names (a crash between PUT and commit, another writer epoch) are found by
// listing the real container and bulk-deleted; everything an index names stays.
TEST_F(CachedLunSwift, OrphansAreFoundByListingAndBulkDeleted) {
  cache_.orphan_grace = std::chrono::milliseconds(0);
  auto lun = open("a");
  ASSERT_TRUE(lun);
  const auto data = pattern(0, 512, 3);
  ASSERT_TRUE(run(lun->write(0, data, {})));
  ASSERT_TRUE(run(lun->drain(std::chrono::milliseconds(60000))));
  const std::vector<std::byte> junk(8192, std::byte{9});
  const core::PutOptions plain;
  const std::vector<std::string> orphans = {"chunk/000000000000/00000000-00000000000f0000",
                                            "chunk/000000000009/00000003-0000000000000001"};
  for (const auto& name : orphans) {
    const core::ObjectKey key{lun_.container, name};
    ASSERT_TRUE(run(store_->put(key, junk, plain)));
  }
  const core::ObjectKey foreign{lun_.container, "chunk/someone-elses"};
  ASSERT_TRUE(run(store_->put(foreign, junk, plain)));
  auto r = run(lun->collect_orphans_now());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->candidates, 2u);
  EXPECT_EQ(r->deleted, 2u);
  core::ListOptions lo;
  lo.prefix = "chunk/";
  auto listed = run(store_->list(lun_.container, lo));
  ASSERT_TRUE(listed);
  std::vector<std::string> names;
  for (const auto& e : *listed)
    names.push_back(e.name);
  for (const auto& name : orphans)
    EXPECT_EQ(std::count(names.begin(), names.end(), name), 0) << name;
  EXPECT_EQ(std::count(names.begin(), names.end(), foreign.name), 1);
  EXPECT_EQ(names.size(), 3u);  // the two chunks and the foreign name
  run(lun->close());
  lun.reset();
  auto fresh = open("b");
  ASSERT_TRUE(fresh);
  std::vector<std::byte> got(data.size());
  ASSERT_TRUE(run(fresh->read(0, got)));
  EXPECT_EQ(got, data);
  run(fresh->close());
}

}  // namespace
}  // namespace swiftness
