// Page checksums in the cache file (issue 8, corruption): bytes flipped in a cached page are
// never served nor uploaded. A clean page is repaired from Swift; a dirty one reads as MEDIUM
// ERROR until it is written again; the CRCs survive a restart, and a cache directory from
// before them still opens.
#include <gtest/gtest.h>

#include <cstring>

#include "cache/cached_lun.hpp"
#include "core/bytes.hpp"
#include "core/crc32c.hpp"
#include "tests/unit/cache/lun_fixture.hpp"

namespace swiftness::test {
namespace {

using core::block_errc;
using Verb = core::MemoryObjectStore::Verb;

class PageCrcTest : public LunFixture {
 protected:
  bool holds(uint64_t lba, uint8_t tag) { return find_block(*fs_, lba, tag).has_value(); }
};

TEST_F(PageCrcTest, AFlippedCleanPageIsServedFromSwiftAndRepaired) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 10, 4, 1));
  ASSERT_TRUE(drain(*lun));  // clean: the chunk's object holds the same bytes
  ASSERT_TRUE(flip(11, 1));
  const auto gets = store_->calls(Verb::get);
  expect_tag(*lun, 10, 4, 1);
  EXPECT_GT(store_->calls(Verb::get), gets);  // the block came from Swift
  auto s = lun->stats();
  EXPECT_EQ(s.page_crc_failures, 1u);
  EXPECT_EQ(s.page_crc_repairs, 1u);
  EXPECT_EQ(s.damaged_dirty_blocks, 0u);
  // The page holds the right bytes again: the next read is a plain hit.
  EXPECT_TRUE(holds(11, 1));
  const auto gets2 = store_->calls(Verb::get);
  expect_tag(*lun, 11, 1, 1);
  EXPECT_EQ(store_->calls(Verb::get), gets2);
  EXPECT_EQ(lun->stats().page_crc_failures, 1u);
  close(lun);
}

TEST_F(PageCrcTest, AFlippedDirtyPageIsMediumErrorNeverUploadedAndHealedByARewrite) {
  auto lun = open(fs_);
  // Chunk 1 (blocks 256..511): block 300 is damaged, 301 is fine and must still reach Swift.
  ASSERT_TRUE(write(*lun, 300, 2, 2));
  ASSERT_TRUE(flip(300, 2));
  ASSERT_TRUE(medium_error(*lun, 300, 1));
  ASSERT_TRUE(medium_error(*lun, 299, 3));  // a read that covers it fails whole
  expect_tag(*lun, 301, 1, 2);
  EXPECT_EQ(lun->stats().damaged_dirty_blocks, 1u);

  // The drain uploads what it can and then says why it cannot finish, without waiting.
  const auto t0 = std::chrono::steady_clock::now();
  auto d = drain(*lun, std::chrono::milliseconds(20000));
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error(), block_errc::medium_error);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  auto s = lun->stats();
  EXPECT_EQ(s.dirty_blocks, 1u);
  EXPECT_EQ(s.damaged_dirty_blocks, 1u);
  EXPECT_EQ(chunk_objects().size(), 1u);
  // The flusher does not spin on the damaged chunk (the index may still be saved meanwhile).
  const auto uploads = lun->stats().uploads + lun->stats().upload_failures;
  pump_until([] { return false; }, std::chrono::milliseconds(300));
  EXPECT_EQ(lun->stats().uploads + lun->stats().upload_failures, uploads);
  EXPECT_EQ(chunk_objects().size(), 1u);
  ASSERT_TRUE(medium_error(*lun, 300, 1));

  // What Swift holds for block 300 is never the flipped bytes: zeros (it had no object).
  ASSERT_TRUE(run(lun->save_index_now()));
  {
    auto other = open(std::make_shared<FaultFs>());
    expect_tag(*other, 300, 1, 0);
    expect_tag(*other, 301, 1, 2);
    close(other);
  }

  // A write over the block heals it; then everything drains.
  ASSERT_TRUE(write(*lun, 300, 1, 3));
  expect_tag(*lun, 300, 1, 3);
  EXPECT_EQ(lun->stats().damaged_dirty_blocks, 0u);
  ASSERT_TRUE(drain(*lun));
  EXPECT_EQ(lun->stats().dirty_blocks, 0u);
  close(lun);
  auto fresh = open(std::make_shared<FaultFs>());
  expect_tag(*fresh, 300, 1, 3);
  expect_tag(*fresh, 301, 1, 2);
  close(fresh);
}

TEST_F(PageCrcTest, ADamagedCleanBlockInAPartialUploadIsTakenFromTheObject) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 0, 8, 1));
  ASSERT_TRUE(drain(*lun));
  ASSERT_TRUE(write(*lun, 4, 1, 2));  // chunk 0 dirty again; blocks 0..3 and 5..7 clean
  ASSERT_TRUE(flip(6, 1));
  ASSERT_TRUE(drain(*lun));
  EXPECT_EQ(lun->stats().page_crc_failures, 1u);
  close(lun);
  auto fresh = open(std::make_shared<FaultFs>());
  expect_tag(*fresh, 0, 4, 1);
  expect_tag(*fresh, 4, 1, 2);
  expect_tag(*fresh, 5, 3, 1);
  close(fresh);
}

TEST_F(PageCrcTest, CrcsSurviveARestartAndAFlipWhileDownIsCaughtOnTheFirstRead) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 5, 1, 4));
  ASSERT_TRUE(run(lun->checkpoint_now()));  // block 5: in the checkpoint
  ASSERT_TRUE(write(*lun, 6, 1, 5, true));  // block 6: only in the journal
  abandon(lun);                             // a crash: no final checkpoint
  ASSERT_TRUE(flip(5, 4));                  // while the daemon is down
  lun = open(fs_);
  ASSERT_TRUE(medium_error(*lun, 5, 1));
  expect_tag(*lun, 6, 1, 5);
  // Replay gave block 6 its CRC back too.
  ASSERT_TRUE(flip(6, 5));
  ASSERT_TRUE(medium_error(*lun, 6, 1));
  EXPECT_EQ(lun->stats().damaged_dirty_blocks, 2u);
  ASSERT_TRUE(write(*lun, 5, 2, 6));
  close(lun);  // a clean shutdown: everything in a checkpoint
  lun = open(fs_);
  expect_tag(*lun, 5, 2, 6);
  ASSERT_TRUE(flip(5, 6));
  ASSERT_TRUE(medium_error(*lun, 5, 1));
  close(lun);
}

// The checkpoint layout before page CRCs (magic SWCKPT01), to check such a cache still opens.
std::vector<std::byte> encode_checkpoint_v1(const cache::CheckpointHeader& h,
                                            const cache::CacheState& s) {
  cache::ByteWriter w;
  const char magic[8] = {'S', 'W', 'C', 'K', 'P', 'T', '0', '1'};
  w.raw(std::as_bytes(std::span(magic)));
  w.u32(0);
  w.raw(std::as_bytes(std::span(h.uuid)));
  w.u32(h.block_size);
  w.u32(h.chunk_blocks);
  w.u64(h.lun_blocks);
  w.u32(h.pages);
  w.u64(h.last_seq);
  w.u64(h.journal_gen);
  w.u64(s.next_gen);
  w.u64(s.index_seq);
  w.u64(s.chunks.size());
  for (const auto& [id, c] : s.chunks) {
    w.u64(id);
    w.u32(c.object.epoch);
    w.u64(c.object.gen);
    w.u32(c.object.crc);
    w.u32(uint32_t(c.entries.size()));
    w.u32(uint32_t(c.entries.size()));  // one run per block: simple and valid
    for (uint32_t b = 0; b < c.entries.size(); ++b) {
      w.u32(c.entries[b]);
      w.u32(1);
      w.u8(uint8_t(c.is_dirty(b)));
    }
  }
  w.u64(s.garbage.size());
  for (const auto& g : s.garbage) {
    w.str(g.name);
    w.u64(g.needed_index_seq);
  }
  auto& buf = w.buffer();
  const uint32_t crc = core::crc32c(std::span<const std::byte>(buf.data() + 12, buf.size() - 12));
  core::store_be32(reinterpret_cast<uint8_t*>(buf.data()) + 8, crc);
  return std::move(buf);
}

TEST_F(PageCrcTest, ACacheFromBeforePageCrcsOpensAndIsCheckedFromThenOn) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 20, 3, 7));
  close(lun);
  // Rewrite the checkpoint in the old layout, as an older daemon left it.
  {
    auto f = fs_->open("lun1.ckpt", false, false);
    ASSERT_TRUE(f);
    std::vector<std::byte> bytes(*(*f)->size());
    ASSERT_TRUE((*f)->pread(0, bytes));
    auto h = cache::parse_checkpoint_header(bytes);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->version, 3u);
    cache::CacheState s(h->chunk_blocks, h->lun_blocks, h->pages,
                        [](uint64_t, const auto&) { return std::string(); });
    ASSERT_TRUE(cache::load_checkpoint(bytes, s));
    auto old = encode_checkpoint_v1(*h, s);
    auto h1 = cache::parse_checkpoint_header(old);
    ASSERT_TRUE(h1);
    EXPECT_EQ(h1->version, 1u);
    cache::CacheState t(h->chunk_blocks, h->lun_blocks, h->pages,
                        [](uint64_t, const auto&) { return std::string(); });
    ASSERT_TRUE(cache::load_checkpoint(old, t));
    EXPECT_EQ(t.dirty_blocks, 3u);
    for (const auto& [id, c] : t.chunks) {
      for (uint32_t e : c.entries)
        EXPECT_FALSE(cache::is_page(e) && t.page_crc_known(e));
    }
    ASSERT_TRUE(fs_->remove("lun1.ckpt"));
    auto nf = fs_->open("lun1.ckpt", true, false);
    ASSERT_TRUE(nf);
    ASSERT_TRUE((*nf)->pwrite(0, old));
    ASSERT_TRUE((*nf)->sync());
    ASSERT_TRUE(fs_->sync_dir());
  }
  lun = open(fs_);
  ASSERT_TRUE(lun);
  expect_tag(*lun, 20, 3, 7);  // the dirty data is all there
  ASSERT_TRUE(flip(21, 7));    // damage after the upgrade is caught
  ASSERT_TRUE(medium_error(*lun, 21, 1));
  close(lun);
}

TEST(PageCrcFormatTest, CheckpointCarriesPageCrcs) {
  auto name = [](uint64_t c, const cache::ObjectRef& r) {
    return std::to_string(c) + "/" + std::to_string(r.gen);
  };
  cache::CacheState s(16, 64, 32, name);
  auto runs = s.allocate(5);
  ASSERT_TRUE(runs);
  for (uint32_t i = 0; i < 4; ++i)  // the fifth page has no CRC: a run of its own
    s.set_page_crc((*runs)[0].page + i, 0x1000 + i);
  s.apply_write({1, 2, 5, *runs});
  cache::CheckpointHeader h;
  h.block_size = 4096;
  h.chunk_blocks = 16;
  h.lun_blocks = 64;
  h.pages = 32;
  auto bytes = cache::encode_checkpoint(h, s);
  cache::CacheState t(16, 64, 32, name);
  ASSERT_TRUE(cache::load_checkpoint(bytes, t));
  const uint32_t p0 = (*runs)[0].page;
  for (uint32_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(t.page_crc_known(p0 + i));
    EXPECT_EQ(t.page_crc(p0 + i), 0x1000 + i);
  }
  EXPECT_FALSE(t.page_crc_known(p0 + 4));
  EXPECT_EQ(t.used_pages, 5u);
}

}  // namespace
}  // namespace swiftness::test
