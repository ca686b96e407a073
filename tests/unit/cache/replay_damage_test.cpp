// Journal replay after a restart (issue 8, corruption): a page covered only by the journal that
// fails its check is either a torn write (its data never reached the disk before a power loss,
// never acknowledged as durable: dropped whole, the previous content stays) or damage done to
// data made durable (FUA, SYNCHRONIZE CACHE, WCE=0: MEDIUM ERROR until rewritten, never the
// content it replaced). The data_synced records in the journal tell them apart.
#include <gtest/gtest.h>

#include "cache/cached_lun.hpp"
#include "tests/unit/cache/lun_fixture.hpp"

namespace swiftness::test {
namespace {

using core::block_errc;

class ReplayDamageTest : public LunFixture {
 protected:
  // The page holding block `lba` with `tag` loses its bytes, as if they had never been written.
  bool lose(uint64_t lba, uint8_t tag) {
    auto off = find_block(*fs_, lba, tag);
    auto f = fs_->open("lun1.data", false, false);
    if (!off || !f) return false;
    const std::vector<std::byte> zeros(kBlock);
    return (*f)->pwrite(*off, zeros) && (*f)->sync();
  }
};

TEST_F(ReplayDamageTest, ADurableWriteFlippedWhileDownIsMediumErrorNotTheOldContent) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 40, 4, 1));
  ASSERT_TRUE(run(lun->checkpoint_now()));   // tag 1 is in the checkpoint
  ASSERT_TRUE(write(*lun, 40, 1, 2, true));  // FUA
  ASSERT_TRUE(write(*lun, 41, 3, 3));        // then SYNCHRONIZE CACHE
  ASSERT_TRUE(flush(*lun));
  abandon(lun);  // kill -9: no checkpoint after them, only the journal has them
  ASSERT_TRUE(flip(40, 2));
  ASSERT_TRUE(flip(42, 3));  // one page of a three-block write
  lun = open(fs_);
  ASSERT_TRUE(lun);
  // Found by the replay itself, before any read.
  auto s = lun->stats();
  EXPECT_EQ(s.damaged_dirty_blocks, 2u);
  EXPECT_EQ(s.page_crc_failures, 2u);
  EXPECT_EQ(s.damaged_records, 2u);
  EXPECT_EQ(s.skipped_records, 0u);
  ASSERT_TRUE(medium_error(*lun, 40, 1));
  ASSERT_TRUE(medium_error(*lun, 42, 1));
  ASSERT_TRUE(medium_error(*lun, 39, 6));  // a read that covers one fails whole
  // The rest of that write is there: only the damaged block is lost, never the whole write.
  expect_tag(*lun, 41, 1, 3);
  expect_tag(*lun, 43, 1, 3);
  EXPECT_EQ(lun->stats().damaged_dirty_blocks, 2u);

  // Never uploaded: a drain says why it cannot finish, and what Swift holds for them is never
  // the content they replaced (zeros: the chunk had no object).
  auto d = drain(*lun, std::chrono::milliseconds(5000));
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error(), block_errc::medium_error);
  ASSERT_TRUE(run(lun->save_index_now()));
  {
    auto other = open(std::make_shared<FaultFs>());
    expect_tag(*other, 40, 1, 0);
    expect_tag(*other, 41, 1, 3);
    expect_tag(*other, 42, 1, 0);
    close(other);
  }

  // Still damaged after another restart (the checkpoint carries what the pages should hold).
  close(lun);
  lun = open(fs_);
  ASSERT_TRUE(medium_error(*lun, 40, 1));
  ASSERT_TRUE(medium_error(*lun, 42, 1));
  expect_tag(*lun, 41, 1, 3);

  // Rewriting heals them.
  ASSERT_TRUE(write(*lun, 40, 1, 4));
  ASSERT_TRUE(write(*lun, 42, 1, 4));
  expect_tag(*lun, 40, 1, 4);
  expect_tag(*lun, 42, 1, 4);
  EXPECT_EQ(lun->stats().damaged_dirty_blocks, 0u);
  ASSERT_TRUE(drain(*lun));
  close(lun);
  auto fresh = open(std::make_shared<FaultFs>());  // Swift alone
  expect_tag(*fresh, 40, 1, 4);
  expect_tag(*fresh, 41, 1, 3);
  expect_tag(*fresh, 42, 1, 4);
  expect_tag(*fresh, 43, 1, 3);
  close(fresh);
}

TEST_F(ReplayDamageTest, WithWriteCacheOffEveryWriteIsDurableAndSoIsItsDamage) {
  cache_.write_cache_enabled = false;
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 7, 1, 1));
  abandon(lun);
  ASSERT_TRUE(flip(7, 1));
  lun = open(fs_);
  ASSERT_TRUE(medium_error(*lun, 7, 1));
  EXPECT_EQ(lun->stats().damaged_dirty_blocks, 1u);
  close(lun);
}

TEST_F(ReplayDamageTest, AWriteWhoseDataNeverReachedTheDiskIsStillDroppedWhole) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 40, 4, 1));
  ASSERT_TRUE(flush(*lun));
  ASSERT_TRUE(write(*lun, 40, 4, 2));  // acknowledged, never made durable
  abandon(lun);
  // Its record reached the journal, one of its pages did not (a power loss before the data
  // fdatasync): the write is gone whole, the durable content before it is all there.
  ASSERT_TRUE(lose(42, 2));
  lun = open(fs_);
  expect_tag(*lun, 40, 4, 1);
  auto s = lun->stats();
  EXPECT_EQ(s.skipped_records, 1u);
  EXPECT_EQ(s.damaged_records, 0u);
  EXPECT_EQ(s.damaged_dirty_blocks, 0u);
  EXPECT_EQ(s.page_crc_failures, 0u);
  close(lun);
}

TEST_F(ReplayDamageTest, OnlyTheNewestRecordOfABlockMatters) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 50, 1, 1, true));
  ASSERT_TRUE(write(*lun, 50, 1, 2, true));  // replaces the damaged one below
  ASSERT_TRUE(write(*lun, 60, 1, 1, true));
  ASSERT_TRUE(run(lun->unmap(std::vector<core::LbaRange>{{60, 1}})));
  ASSERT_TRUE(flush(*lun));
  abandon(lun);
  ASSERT_TRUE(flip(50, 1));
  ASSERT_TRUE(flip(60, 1));
  lun = open(fs_);
  expect_tag(*lun, 50, 1, 2);
  expect_tag(*lun, 60, 1, 0);  // unmapped: zeros
  auto s = lun->stats();
  EXPECT_EQ(s.damaged_dirty_blocks, 0u);
  EXPECT_EQ(s.page_crc_failures, 0u);
  EXPECT_EQ(s.skipped_records, 0u);
  ASSERT_TRUE(drain(*lun));
  close(lun);
}

TEST_F(ReplayDamageTest, ADurableBlockUploadedSinceIsRepairedFromSwift) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 70, 2, 1, true));
  ASSERT_TRUE(drain(*lun));  // a clean record follows the write in the journal
  abandon(lun);
  ASSERT_TRUE(flip(71, 1));
  lun = open(fs_);
  expect_tag(*lun, 70, 2, 1);
  auto s = lun->stats();
  EXPECT_EQ(s.page_crc_failures, 1u);
  EXPECT_EQ(s.page_crc_repairs, 1u);
  EXPECT_EQ(s.damaged_dirty_blocks, 0u);
  close(lun);
}

// A cache directory of the previous version (checkpoint SWCKPT02, a journal of write_v1
// records and no data_synced ones) still opens and replays; its next checkpoint is version 3.
TEST_F(ReplayDamageTest, AJournalOfThePreviousVersionStillReplays) {
  auto lun = open(fs_);
  ASSERT_TRUE(write(*lun, 30, 3, 1, true));
  ASSERT_TRUE(write(*lun, 33, 1, 2, true));
  abandon(lun);
  auto read_all = [&](const std::string& name) {
    auto f = fs_->open(name, false, false);
    EXPECT_TRUE(f);
    std::vector<std::byte> bytes(*(*f)->size());
    EXPECT_TRUE((*f)->pread(0, bytes));
    return bytes;
  };
  auto replace = [&](const std::string& name, const std::vector<std::byte>& bytes) {
    ASSERT_TRUE(fs_->remove(name));
    auto f = fs_->open(name, true, false);
    ASSERT_TRUE(f);
    ASSERT_TRUE((*f)->pwrite(0, bytes));
    ASSERT_TRUE((*f)->sync());
    ASSERT_TRUE(fs_->sync_dir());
  };
  auto ckpt = read_all("lun1.ckpt");
  auto h = cache::parse_checkpoint_header(ckpt);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->version, 3u);
  ckpt[7] = std::byte{'2'};  // the magic is outside the checkpoint's CRC
  const std::string jname = "lun1.journal." + std::to_string(h->journal_gen);
  auto journal = read_all(jname);
  std::vector<std::byte> old;
  uint64_t seq = h->last_seq + 1;
  uint64_t records = 0;
  int writes = 0;
  for (size_t off = 0, used = 0; off < journal.size(); off += used) {
    auto rec = cache::decode_record(std::span(journal).subspan(off), used);
    ASSERT_TRUE(rec);
    if (rec->type == cache::RecordType::data_synced) continue;
    if (rec->type == cache::RecordType::write) {
      rec->type = cache::RecordType::write_v1;
      rec->data_check = cache::combine_block_crcs(rec->page_crcs);
      ++writes;
    }
    rec->seq = seq++;
    ++records;
    auto bytes = cache::encode_record(*rec);
    old.insert(old.end(), bytes.begin(), bytes.end());
  }
  EXPECT_EQ(writes, 2);
  replace("lun1.ckpt", ckpt);
  replace(jname, old);
  ASSERT_EQ(cache::parse_checkpoint_header(ckpt)->version, 2u);

  lun = open(fs_);
  ASSERT_TRUE(lun);
  expect_tag(*lun, 30, 3, 1);
  expect_tag(*lun, 33, 1, 2);
  EXPECT_EQ(lun->stats().replayed_records, records);
  EXPECT_EQ(cache::parse_checkpoint_header(read_all("lun1.ckpt"))->version, 3u);
  close(lun);
}

}  // namespace
}  // namespace swiftness::test
