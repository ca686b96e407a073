#include "tests/bench/iscsi/block_pattern.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace swiftness::bench {
namespace {

TEST(BlockPattern, SameSeedAndLbaGiveSameBytesWhateverTheTransfer) {
  BlockPattern p(7, 512);
  std::vector<std::byte> big(8 * 512), one(512);
  p.fill(100, big);
  p.fill(103, one);
  EXPECT_EQ(0, std::memcmp(big.data() + 3 * 512, one.data(), 512));
}

TEST(BlockPattern, DifferentLbasAndSeedsDiffer) {
  std::vector<std::byte> a(4096), b(4096), c(4096);
  BlockPattern(1, 4096).fill(5, a);
  BlockPattern(1, 4096).fill(6, b);
  BlockPattern(2, 4096).fill(5, c);
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  // Bodies differ too, not only the headers.
  EXPECT_NE(0, std::memcmp(a.data() + 64, b.data() + 64, 1024));
}

TEST(BlockPattern, VerifyAcceptsWhatFillWrote) {
  BlockPattern p(42, 512);
  std::vector<std::byte> buf(16 * 512);
  p.fill(1000, buf);
  uint64_t bad = 0;
  std::string detail;
  EXPECT_EQ(0u, p.verify(1000, buf, &bad, &detail));
  EXPECT_TRUE(detail.empty());
}

TEST(BlockPattern, VerifyCountsAndDescribesEachKindOfDamage) {
  BlockPattern p(42, 512);
  std::vector<std::byte> buf(4 * 512);
  p.fill(10, buf);
  buf[2 * 512 + 300] ^= std::byte{1};  // one flipped bit in LBA 12
  uint64_t bad = 0;
  std::string detail;
  EXPECT_EQ(1u, p.verify(10, buf, &bad, &detail));
  EXPECT_EQ(12u, bad);
  EXPECT_NE(detail.find("1 of 512 bytes differ, first at offset 300"), std::string::npos) << detail;

  std::fill(buf.begin() + 512, buf.begin() + 1024, std::byte{0});  // LBA 11 lost
  EXPECT_EQ(2u, p.verify(10, buf, &bad, &detail));
  EXPECT_EQ(11u, bad);
  EXPECT_NE(detail.find("all zeros"), std::string::npos) << detail;
}

TEST(BlockPattern, NamesMisdirectedAndStaleBlocks) {
  BlockPattern now(9, 512), before(8, 512);
  std::vector<std::byte> block(512);
  now.fill(77, block);  // the block of LBA 77 found at LBA 78
  EXPECT_NE(now.describe_mismatch(78, block).find("holds the pattern of LBA 77"),
            std::string::npos);
  before.fill(78, block);  // an older run's data
  EXPECT_NE(now.describe_mismatch(78, block).find("written with seed 8"), std::string::npos);
}

}  // namespace
}  // namespace swiftness::bench
