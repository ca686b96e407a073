#include "cache/format.hpp"

#include <gtest/gtest.h>

#include "cache/codec.hpp"
#include "core/crc32c.hpp"
#include "core/memory_object_store.hpp"

namespace swiftness::cache {
namespace {

void expect_torn_and_flipped_rejected(const std::vector<std::byte>& bytes) {
  size_t used = 0;
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(decode_record(std::span(bytes).first(cut), used)) << cut;
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto flipped = bytes;
    flipped[i] ^= std::byte{1};
    EXPECT_FALSE(decode_record(flipped, used)) << i;
  }
}

TEST(FormatTest, RecordsRoundTripAndTornRecordsAreRejected) {
  Record w;
  w.type = RecordType::write;
  w.seq = 42;
  w.segments = {{7, 3, 5, {{100, 2}, {200, 3}}}};
  w.page_crcs = {11, 12, 13, 14, 0xdeadbeef};
  auto bytes = encode_record(w);
  size_t used = 0;
  auto back = decode_record(bytes, used);
  ASSERT_TRUE(back);
  EXPECT_EQ(used, bytes.size());
  EXPECT_EQ(back->type, RecordType::write);
  EXPECT_EQ(back->seq, 42u);
  ASSERT_EQ(back->segments.size(), 1u);
  EXPECT_EQ(back->segments[0].runs[1].page, 200u);
  EXPECT_EQ(back->page_crcs, w.page_crcs);
  expect_torn_and_flipped_rejected(bytes);
  // A write record must carry one CRC per page.
  w.page_crcs.pop_back();
  EXPECT_FALSE(decode_record(encode_record(w), used));

  Record synced;
  synced.type = RecordType::data_synced;
  synced.seq = 43;
  synced.data_synced = 41;
  bytes = encode_record(synced);
  back = decode_record(bytes, used);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->type, RecordType::data_synced);
  EXPECT_EQ(back->data_synced, 41u);
  expect_torn_and_flipped_rejected(bytes);
}

TEST(FormatTest, WriteRecordsOfOlderJournalsStillDecode) {
  Record w;
  w.type = RecordType::write_v1;
  w.seq = 42;
  w.segments = {{7, 3, 5, {{100, 2}, {200, 3}}}};
  w.data_check = 0xdeadbeef;
  auto bytes = encode_record(w);
  size_t used = 0;
  auto back = decode_record(bytes, used);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->type, RecordType::write_v1);
  EXPECT_EQ(back->segments[0].runs[1].page, 200u);
  EXPECT_EQ(back->data_check, 0xdeadbeefu);
  expect_torn_and_flipped_rejected(bytes);
}

TEST(FormatTest, CheckpointRoundTrip) {
  auto name = [](uint64_t c, const ObjectRef& r) {
    return std::to_string(c) + "/" + std::to_string(r.gen);
  };
  CacheState s(16, 64, 32, name);
  auto runs = s.allocate(5);
  ASSERT_TRUE(runs);
  s.apply_write({1, 2, 5, *runs});
  s.apply_unmap(2, 0, 4, 3);
  s.chunk(3).object = {0, 9, 1234};
  s.add_garbage({"x", 4});
  s.next_gen = 10;
  CheckpointHeader h;
  h.block_size = 4096;
  h.chunk_blocks = 16;
  h.lun_blocks = 64;
  h.pages = 32;
  h.last_seq = 77;
  h.journal_gen = 3;
  auto bytes = encode_checkpoint(h, s);
  auto hh = parse_checkpoint_header(bytes);
  ASSERT_TRUE(hh);
  EXPECT_EQ(hh->last_seq, 77u);
  CacheState t(16, 64, 32, name);
  ASSERT_TRUE(load_checkpoint(bytes, t));
  EXPECT_EQ(t.dirty_blocks, 9u);
  EXPECT_EQ(t.used_pages, 5u);
  EXPECT_EQ(t.free_pages(), 27u);
  EXPECT_EQ(t.chunks.at(3).object.gen, 9u);
  EXPECT_EQ(t.chunks.at(2).entries[1], kZeroPage);
  EXPECT_EQ(t.garbage.size(), 1u);
  EXPECT_EQ(t.next_gen, 10u);
  bytes[bytes.size() / 2] ^= std::byte{4};
  EXPECT_FALSE(parse_checkpoint_header(bytes));
}

TEST(FormatTest, LunMetaRoundTrip) {
  LunMeta m;
  m.uuid[0] = 0xab;
  m.size_bytes = 1ull << 40;
  m.block_size = 512;
  m.chunk_size = 4u << 20;
  m.compression = true;
  auto text = encode_lun_meta(m);
  auto back = decode_lun_meta(std::as_bytes(std::span(text.data(), text.size())));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->uuid, m.uuid);
  EXPECT_EQ(back->size_bytes, m.size_bytes);
  EXPECT_TRUE(back->compression);
}

TEST(CodecTest, OpensslMd5MatchesTheStoreAndDecodeChecksEverything) {
  std::vector<std::byte> content(100000);
  for (size_t i = 0; i < content.size(); ++i)
    content[i] = std::byte(i * 7);
  EXPECT_EQ(md5_hex_fast(content), core::md5_hex(content));
  for (bool compress : {false, true}) {
    ChunkCodec codec(compress, 1);
    auto enc = codec.encode(1, 2, content);
    ASSERT_TRUE(enc);
    core::Object obj;
    obj.body = enc->body;
    obj.info.etag = enc->md5;
    obj.info.metadata = enc->metadata;
    auto dec = codec.decode(1, 2, obj, enc->content_crc);
    ASSERT_TRUE(dec);
    EXPECT_EQ(*dec, content);
    EXPECT_FALSE(codec.decode(1, 2, obj, enc->content_crc + 1));
    obj.body[10] ^= std::byte{1};
    EXPECT_FALSE(codec.decode(1, 2, obj, enc->content_crc));
    obj.info.etag = md5_hex_fast(obj.body);  // a body whose ETag matches but content does not
    EXPECT_FALSE(codec.decode(1, 2, obj, std::nullopt));
  }
}

TEST(CodecTest, RangeTableChecksEachGranuleAndMustEndInTheIndexCrc) {
  EXPECT_EQ(range_granule(1u << 20), 64u * 1024);
  EXPECT_EQ(range_granule(4u << 20), 64u * 1024);            // 64 entries
  EXPECT_EQ(range_granule(16u << 20), 128u * 1024);          // 128 entries
  EXPECT_EQ(range_granule(64u << 20), 512u * 1024);          // 128 entries
  EXPECT_EQ(range_granule((4u << 20) + 4096), 64u * 1024);   // 65 entries
  EXPECT_EQ(range_granule((8u << 20) + 4096), 128u * 1024);  // 65 entries

  // 1 MiB + 12 KiB: 17 granules, the last one short.
  std::vector<std::byte> content((1u << 20) + 12288);
  for (size_t i = 0; i < content.size(); ++i)
    content[i] = std::byte((i * 2654435761u) >> 13);
  ChunkCodec codec(false, 1);
  ASSERT_TRUE(codec.ranged_reads());
  auto enc = codec.encode(1, 2, content);
  ASSERT_TRUE(enc);
  // Raw content is encoded in one pass per granule: the same body, CRC and MD5 as separately.
  EXPECT_EQ(enc->body, content);
  EXPECT_EQ(enc->content_crc, core::crc32c(content));
  EXPECT_EQ(enc->md5, core::md5_hex(content));
  size_t meta_bytes = 0;
  for (const auto& [k, v] : enc->metadata) {
    EXPECT_LE(v.size(), 256u) << k;  // Swift's limit per value
    meta_bytes += k.size() + v.size();
  }
  EXPECT_LT(meta_bytes, 600u);
  auto t = parse_range_table(enc->metadata, enc->content_crc);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->granule, 65536u);
  ASSERT_EQ(t->prefix.size(), 17u);
  EXPECT_EQ(t->prefix.back(), enc->content_crc);
  // A table that does not end in the CRC our index holds is not believed.
  EXPECT_FALSE(parse_range_table(enc->metadata, enc->content_crc ^ 1));

  auto span = std::span<const std::byte>(content);
  EXPECT_TRUE(verify_granules(*t, 3, span.subspan(3 * 65536, 2 * 65536)));
  EXPECT_TRUE(verify_granules(*t, 16, span.subspan(16 * 65536)));  // the short last granule
  EXPECT_TRUE(verify_granules(*t, 0, span));
  // A cut-short granule, or one byte off anywhere, is a mismatch.
  EXPECT_FALSE(verify_granules(*t, 3, span.subspan(3 * 65536, 65536 + 100)));
  std::vector<std::byte> bad(content.begin() + 5 * 65536, content.begin() + 6 * 65536);
  bad[777] ^= std::byte{0x10};
  EXPECT_FALSE(verify_granules(*t, 5, bad));
  EXPECT_FALSE(verify_granules(*t, 4, bad));  // right bytes at the wrong place

  // A damaged table entry makes its granules fail (never accepted).
  auto md = enc->metadata;
  auto& hex = md.at("swiftness-crcs-0");
  hex[8 * 5] = hex[8 * 5] == '0' ? '1' : '0';
  auto t2 = parse_range_table(md, enc->content_crc);
  ASSERT_TRUE(t2);
  EXPECT_FALSE(verify_granules(*t2, 5, span.subspan(5 * 65536, 65536)));
  md.erase("swiftness-crcs-0");
  EXPECT_FALSE(parse_range_table(md, enc->content_crc));

  // Compressed chunks carry no table: they open only whole.
  ChunkCodec zstd(true, 1);
  EXPECT_FALSE(zstd.ranged_reads());
  auto z = zstd.encode(1, 2, content);
  ASSERT_TRUE(z);
  EXPECT_FALSE(parse_range_table(z->metadata, z->content_crc));
}

}  // namespace
}  // namespace swiftness::cache
