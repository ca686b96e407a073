#include "tests/bench/iscsi/block_pattern.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <cstring>
#include <vector>

namespace swiftness::bench {
namespace {

constexpr char kMagic[8] = {'S', 'W', 'F', 'T', 'P', 'A', 'T', 'T'};

void store_le64(std::byte* p, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    p[i] = static_cast<std::byte>(v >> (8 * i));
}

uint64_t load_le64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

}  // namespace

void BlockPattern::fill_block(uint64_t lba, std::byte* out) const {
  std::memcpy(out, kMagic, sizeof kMagic);
  store_le64(out + 8, lba);
  store_le64(out + 16, seed_);
  // Key the stream by both values so neighbouring LBAs and neighbouring seeds never share a body.
  uint64_t state = seed_ * 0xd1b54a32d192ed03ULL ^ lba * 0x8cb92ba72f3d8dd7ULL;
  size_t pos = kHeaderSize;
  for (; pos + 8 <= block_size_; pos += 8)
    store_le64(out + pos, splitmix64(state));
  if (pos < block_size_) {
    std::byte tail[8];
    store_le64(tail, splitmix64(state));
    std::memcpy(out + pos, tail, block_size_ - pos);
  }
}

void BlockPattern::fill(uint64_t first_lba, std::span<std::byte> out) const {
  const size_t blocks = out.size() / block_size_;
  for (size_t i = 0; i < blocks; ++i)
    fill_block(first_lba + i, out.data() + i * block_size_);
}

size_t BlockPattern::verify(uint64_t first_lba, std::span<const std::byte> data,
                            uint64_t* first_bad, std::string* detail) const {
  std::vector<std::byte> expected(block_size_);
  const size_t blocks = data.size() / block_size_;
  size_t bad = 0;
  for (size_t i = 0; i < blocks; ++i) {
    fill_block(first_lba + i, expected.data());
    const std::byte* got = data.data() + i * block_size_;
    if (std::memcmp(got, expected.data(), block_size_) == 0) continue;
    if (bad++ == 0) {
      if (first_bad) *first_bad = first_lba + i;
      if (detail) *detail = describe_mismatch(first_lba + i, {got, block_size_});
    }
  }
  return bad;
}

std::string BlockPattern::describe_mismatch(uint64_t lba, std::span<const std::byte> block) const {
  if (std::all_of(block.begin(), block.end(), [](std::byte b) { return b == std::byte{0}; })) {
    return fmt::format("LBA {}: block is all zeros (never written, or write lost)", lba);
  }
  std::vector<std::byte> expected(block_size_);
  fill_block(lba, expected.data());
  size_t first_diff = 0;
  while (first_diff < block.size() && block[first_diff] == expected[first_diff])
    ++first_diff;
  size_t diff_bytes = 0;
  for (size_t i = 0; i < block.size(); ++i)
    diff_bytes += block[i] != expected[i];
  std::string what = fmt::format("LBA {}: {} of {} bytes differ, first at offset {}", lba,
                                 diff_bytes, block.size(), first_diff);
  if (block.size() >= kHeaderSize && std::memcmp(block.data(), kMagic, sizeof kMagic) == 0) {
    const uint64_t their_lba = load_le64(block.data() + 8);
    const uint64_t their_seed = load_le64(block.data() + 16);
    if (their_lba != lba) what += fmt::format("; holds the pattern of LBA {}", their_lba);
    if (their_seed != seed_)
      what += fmt::format("; written with seed {} (stale data?)", their_seed);
  } else {
    what += "; not a pattern block";
  }
  return what;
}

}  // namespace swiftness::bench
