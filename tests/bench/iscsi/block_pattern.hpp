#pragma once
// Deterministic block contents for write/verify runs.
//
// The content of a block depends only on (seed, lba, block size), never on the transfer that wrote
// it, so a later process (or a read with different transfer sizes) can verify what an earlier one
// wrote. Each block starts with a small header naming its own LBA and seed, so a mismatch can say
// "this block holds LBA 812 of seed 7" (misdirected or stale write) instead of just "differs".

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace swiftness::bench {

// SplitMix64 (Steele, Lea, Flood 2014): one multiply-xorshift step per 8 bytes, good enough to make
// every block distinct and cheap enough not to dominate a verify run.
inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class BlockPattern {
 public:
  // Header layout, little-endian (host order is not used so files written on one machine verify
  // on another):
  //   bytes 0-7   magic "SWFTPATT"
  //   bytes 8-15  LBA
  //   bytes 16-23 seed
  //   bytes 24-   SplitMix64 stream keyed by (seed, LBA)
  static constexpr size_t kHeaderSize = 24;

  BlockPattern(uint64_t seed, uint32_t block_size) : seed_(seed), block_size_(block_size) {}

  uint64_t seed() const { return seed_; }
  uint32_t block_size() const { return block_size_; }

  // Fills `out` (a whole number of blocks) with the contents of blocks first_lba, first_lba+1, ...
  void fill(uint64_t first_lba, std::span<std::byte> out) const;

  // Returns the number of blocks in `data` that differ from the expected contents; the first
  // mismatching LBA is written to *first_bad (if non-null) and described in *detail.
  size_t verify(uint64_t first_lba, std::span<const std::byte> data, uint64_t* first_bad,
                std::string* detail) const;

  // A human description of what a mismatching block holds instead (zeros, another LBA, ...).
  std::string describe_mismatch(uint64_t lba, std::span<const std::byte> block) const;

 private:
  void fill_block(uint64_t lba, std::byte* out) const;

  uint64_t seed_;
  uint32_t block_size_;
};

}  // namespace swiftness::bench
