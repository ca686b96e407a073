// Fixture for CachedLun tests: a MemoryObjectStore, a FaultFs cache directory, a private
// io_context pumped by the test thread and a two-thread blocking pool.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "cache/cached_lun.hpp"
#include "core/memory_object_store.hpp"
#include "tests/unit/cache/fault_fs.hpp"
#include "tests/unit/cache/test_util.hpp"

namespace swiftness::test {

class LunFixture : public ::testing::Test {
 protected:
  static constexpr uint32_t kBlock = 4096;
  static constexpr uint32_t kChunkBlocks = 256;  // 1 MiB chunks

  LunFixture() {
    lun_.container = "lun1";
    lun_.size_bytes = 16u << 20;
    lun_.block_size = kBlock;
    lun_.chunk_size = 1u << 20;
    cache_.size_bytes = 8u << 20;
    cache_.max_dirty_age = std::chrono::hours(1);  // uploads only when a test asks
    cache_.dirty_low_watermark = 0.9;
    cache_.dirty_high_watermark = 0.95;
    cache_.gc_grace = std::chrono::milliseconds(0);
    cache_.index_interval = std::chrono::milliseconds(0);
    cache_.write_wait_limit = std::chrono::milliseconds(2000);
  }
  ~LunFixture() override { pool_.join(); }

  template <class T>
  T run(boost::asio::awaitable<T> aw, std::chrono::seconds limit = std::chrono::seconds(60)) {
    return test::run(ctx_, std::move(aw), limit);
  }

  core::Result<std::shared_ptr<cache::CachedLun>> try_open(std::shared_ptr<FaultFs> fs) {
    cache::CachedLunOptions o;
    o.fs = fs;
    o.hooks = hooks_;
    return run(
        cache::CachedLun::open(ctx_.get_executor(), pool_.get_executor(), store_, lun_, cache_, o));
  }
  std::shared_ptr<cache::CachedLun> open(std::shared_ptr<FaultFs> fs) {
    auto r = try_open(fs);
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
    return r ? *r : nullptr;
  }

  // Block contents that say which write put them there: the LBA, a tag, then a pattern.
  static std::vector<std::byte> pattern(uint64_t lba, uint32_t blocks, uint8_t tag) {
    std::vector<std::byte> v(size_t(blocks) * kBlock);
    for (uint32_t b = 0; b < blocks; ++b) {
      std::byte* p = v.data() + size_t(b) * kBlock;
      uint64_t l = lba + b;
      std::memcpy(p, &l, 8);
      p[8] = std::byte(tag);
      for (uint32_t i = 9; i < kBlock; ++i)
        p[i] = std::byte((l * 31 + tag * 7 + i) & 0xff);
    }
    return v;
  }
  // The tag of a block written by pattern(), 0 for zeros, -1 for anything else (torn).
  static int tag_of(std::span<const std::byte> block, uint64_t lba) {
    if (std::all_of(block.begin(), block.end(), [](std::byte b) { return b == std::byte{0}; })) {
      return 0;
    }
    int tag = int(block[8]);
    auto expect = pattern(lba, 1, uint8_t(tag));
    return std::memcmp(expect.data(), block.data(), kBlock) == 0 ? tag : -1;
  }

  // The offset of the cache-file page holding block `lba` as pattern() wrote it with `tag`.
  static std::optional<uint64_t> find_block(cache::FileSystem& fs, uint64_t lba, uint8_t tag) {
    auto f = fs.open("lun1.data", false, false);
    if (!f) return std::nullopt;
    auto size = (*f)->size();
    if (!size) return std::nullopt;
    std::vector<std::byte> all(*size);
    if (!(*f)->pread(0, all)) return std::nullopt;
    const auto want = pattern(lba, 1, tag);
    for (uint64_t off = 0; off + kBlock <= all.size(); off += kBlock) {
      if (std::memcmp(all.data() + off, want.data(), kBlock) == 0) return off;
    }
    return std::nullopt;
  }
  // Flips one byte of that page, the way a failing SSD, a stray write or a lost writeback
  // would. False if no page holds the block.
  static bool flip_block(cache::FileSystem& fs, uint64_t lba, uint8_t tag) {
    auto off = find_block(fs, lba, tag);
    auto f = fs.open("lun1.data", false, false);
    if (!off || !f) return false;
    std::byte b{};
    if (!(*f)->pread(*off + 100, std::span(&b, 1))) return false;
    b ^= std::byte{0x40};
    return (*f)->pwrite(*off + 100, std::span(&b, 1)) && (*f)->sync();
  }
  bool flip(uint64_t lba, uint8_t tag) { return flip_block(*fs_, lba, tag); }
  core::Result<void> write(cache::CachedLun& lun, uint64_t lba, uint32_t blocks, uint8_t tag,
                           bool fua = false) {
    auto data = pattern(lba, blocks, tag);
    core::WriteFlags f;
    f.fua = fua;
    return run(lun.write(lba, data, f));
  }
  core::Result<std::vector<std::byte>> read(cache::CachedLun& lun, uint64_t lba, uint32_t blocks) {
    std::vector<std::byte> buf(size_t(blocks) * kBlock, std::byte{0x77});
    auto r = run(lun.read(lba, buf));
    if (!r) return r.error();
    return buf;
  }
  // A read of [lba, lba+blocks) fails with MEDIUM ERROR: damaged bytes are never served.
  ::testing::AssertionResult medium_error(cache::CachedLun& lun, uint64_t lba, uint32_t blocks) {
    auto r = read(lun, lba, blocks);
    if (r) return ::testing::AssertionFailure() << "lba " << lba << " was served";
    if (r.error() != core::block_errc::medium_error) {
      return ::testing::AssertionFailure() << "lba " << lba << ": " << r.error().message();
    }
    return ::testing::AssertionSuccess();
  }
  // Every block of [lba, lba+blocks) carries `tag`.
  void expect_tag(cache::CachedLun& lun, uint64_t lba, uint32_t blocks, int tag) {
    auto got = read(lun, lba, blocks);
    ASSERT_TRUE(got) << got.error().message();
    for (uint32_t b = 0; b < blocks; ++b) {
      ASSERT_EQ(tag_of(std::span(*got).subspan(size_t(b) * kBlock, kBlock), lba + b), tag)
          << "lba " << lba + b;
    }
  }
  core::Result<void> flush(cache::CachedLun& lun) { return run(lun.flush({0, 0})); }
  core::Result<void> drain(cache::CachedLun& lun,
                           std::chrono::milliseconds limit = std::chrono::milliseconds(10000)) {
    return run(lun.drain(limit));
  }
  void close(std::shared_ptr<cache::CachedLun>& lun) {
    if (lun) run(lun->close());
    lun.reset();
  }
  void abandon(std::shared_ptr<cache::CachedLun>& lun) {
    if (lun) run(lun->abandon());
    lun.reset();
  }
  std::vector<std::string> chunk_objects() {
    std::vector<std::string> out;
    for (auto& n : store_->names(lun_.container)) {
      if (n.rfind("chunk/", 0) == 0) out.push_back(n);
    }
    return out;
  }
  // Pumps the io_context until `pred` holds (bounded).
  template <class P>
  bool pump_until(P pred, std::chrono::milliseconds limit = std::chrono::milliseconds(10000)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      ctx_.restart();
      ctx_.run_for(std::chrono::milliseconds(2));
    }
    return true;
  }

  boost::asio::io_context ctx_;
  boost::asio::thread_pool pool_{2};
  std::shared_ptr<core::MemoryObjectStore> store_ = std::make_shared<core::MemoryObjectStore>();
  std::shared_ptr<FaultFs> fs_ = std::make_shared<FaultFs>();
  std::shared_ptr<cache::Hooks> hooks_ = std::make_shared<cache::Hooks>();
  cache::LunConfig lun_;
  cache::CacheConfig cache_;
};

// The CachedLun tests, split by subject over cached_lun_*_test.cpp: one class for the whole
// CachedLunTest suite, since gtest refuses a suite whose tests use different fixture classes.
class CachedLunTest : public LunFixture {};

}  // namespace swiftness::test
