// ChunkCodec::encode_for_put_many (multi-lane MD5, cache/codec.cpp) must produce exactly what
// encode_for_put produces chunk by chunk: same ETag, CRC, granule table and metadata, for
// chunks of equal and different sizes (granules of 64 KiB and larger), any count, and codecs
// that cannot batch (compression).
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "cache/codec.hpp"
#include "core/md5_lanes.hpp"
#include "core/memory_object_store.hpp"

namespace swiftness::cache {
namespace {

std::vector<std::byte> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> v(n);
  for (auto& b : v)
    b = std::byte(rng());
  return v;
}

void expect_same_as_one_by_one(const ChunkCodec& codec,
                               const std::vector<std::vector<std::byte>>& data) {
  std::vector<ChunkCodec::PutInput> in;
  for (size_t i = 0; i < data.size(); ++i)
    in.push_back({i, 100 + i, data[i]});
  const auto many = codec.encode_for_put_many(in);
  ASSERT_EQ(many.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    SCOPED_TRACE("chunk " + std::to_string(i) + " of " + std::to_string(in.size()) + ", " +
                 std::to_string(data[i].size()) + " bytes");
    const auto one = codec.encode_for_put(in[i].chunk, in[i].gen, in[i].content);
    ASSERT_TRUE(one);
    ASSERT_TRUE(many[i]);
    EXPECT_EQ(many[i]->md5, one->md5);
    const std::span<const std::byte> put =
        many[i]->body_is_content ? std::span<const std::byte>(data[i]) : many[i]->body;
    EXPECT_EQ(many[i]->md5, core::md5_hex(put)) << "the ETag Swift checks: MD5 of what is PUT";
    EXPECT_EQ(many[i]->content_crc, one->content_crc);
    EXPECT_EQ(many[i]->metadata, one->metadata);
    EXPECT_EQ(many[i]->body_is_content, one->body_is_content);
    EXPECT_EQ(many[i]->body, one->body);
  }
}

TEST(CodecLanesTest, EqualChunksEveryCount) {
  ChunkCodec codec(false, 0);
  for (size_t n = 1; n <= 2 * core::kMd5MaxLanes + 1; ++n) {
    std::vector<std::vector<std::byte>> data;
    for (size_t i = 0; i < n; ++i)
      data.push_back(random_bytes(1 << 20, uint32_t(n * 100 + i)));
    expect_same_as_one_by_one(codec, data);
  }
}

TEST(CodecLanesTest, DifferentSizesAndGranules) {
  ChunkCodec codec(false, 0);
  // 4 MiB (64 KiB granules), 20 MiB + 5 (192 KiB granules), odd sizes around block and granule
  // ends, an empty chunk, a one-byte chunk.
  const size_t sizes[] = {
      4 << 20, (20 << 20) + 5, 65536 + 63,   65536 - 1, 0, 1, 64, 55, 56, 4 << 20, 131072,
      3,       4096,           (1 << 20) + 1};
  std::vector<std::vector<std::byte>> data;
  for (size_t i = 0; i < std::size(sizes); ++i)
    data.push_back(random_bytes(sizes[i], uint32_t(i + 1)));
  expect_same_as_one_by_one(codec, data);
  std::mt19937 rng(5);
  for (int round = 0; round < 20; ++round) {
    data.clear();
    const size_t n = 2 + rng() % 9;
    for (size_t i = 0; i < n; ++i)
      data.push_back(random_bytes(rng() % (3 << 20), rng()));
    expect_same_as_one_by_one(codec, data);
  }
}

TEST(CodecLanesTest, BatchedChunksDecodeAndReadByRange) {
  ChunkCodec codec(false, 0);
  std::vector<std::vector<std::byte>> data;
  for (uint32_t i = 0; i < 4; ++i)
    data.push_back(random_bytes(4 << 20, 40 + i));
  std::vector<ChunkCodec::PutInput> in;
  for (size_t i = 0; i < data.size(); ++i)
    in.push_back({i, 1, data[i]});
  auto many = codec.encode_for_put_many(in);
  for (size_t i = 0; i < data.size(); ++i) {
    ASSERT_TRUE(many[i]);
    core::Object obj;
    obj.body = data[i];
    obj.info.etag = many[i]->md5;
    obj.info.metadata = many[i]->metadata;
    auto table = parse_range_table(obj.info.metadata, many[i]->content_crc);
    ASSERT_TRUE(table);
    EXPECT_TRUE(verify_granules(*table, 3, std::span(data[i]).subspan(3 * 65536, 2 * 65536)));
    auto dec = codec.decode(i, 1, std::move(obj), std::nullopt);  // checks the ETag too
    ASSERT_TRUE(dec);
    EXPECT_EQ(*dec, data[i]);
  }
}

TEST(CodecLanesTest, CompressedChunksKeepTheirOwnPath) {
  ChunkCodec codec(true, 1);
  std::vector<std::vector<std::byte>> data;
  for (uint32_t i = 0; i < 3; ++i)
    data.push_back(random_bytes(200000, 60 + i));
  expect_same_as_one_by_one(codec, data);
}

}  // namespace
}  // namespace swiftness::cache
