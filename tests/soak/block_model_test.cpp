// The crash soak's expectations (block_model.hpp) on hand-made read-backs: an intact run
// passes, and a lost durable write, stale data, a torn block and a torn command are each caught.
#include "tests/soak/block_model.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "tests/bench/iscsi/block_pattern.hpp"

using namespace swiftness;
using soak::BlockModel;

namespace {

constexpr uint32_t kBs = 512;

std::vector<std::byte> block(uint64_t seed, uint64_t lba) {
  std::vector<std::byte> b(kBs);
  if (seed != 0) bench::BlockPattern(seed, kBs).fill(lba, b);
  return b;
}

// Two commands: blocks 0-3 and 4-7.
std::vector<bench::PlannedIo> plan() {
  return {{0, 4, false, false}, {4, 4, false, true}};
}

}  // namespace

TEST(BlockSeed, NamesTheSeedZerosOrNothing) {
  EXPECT_EQ(soak::block_seed(9, block(7, 9)), 7u);
  EXPECT_EQ(soak::block_seed(9, block(0, 9)), 0u);
  EXPECT_EQ(soak::block_seed(9, block(7, 8)), std::nullopt) << "another LBA's data";
  auto torn = block(7, 9);
  auto other = block(8, 9);
  std::copy(other.begin() + 256, other.end(), torn.begin() + 256);
  EXPECT_EQ(soak::block_seed(9, torn), std::nullopt) << "half of one write, half of another";
}

TEST(BlockModel, DurableNewOrOldPassesAndBecomesTheExpectation) {
  BlockModel m(0, 8);
  std::vector<bench::LbaRange> acked{{4, 4}};
  // Command 0-3 was in flight and did not land; 4-7 was durable.
  std::vector<std::optional<uint64_t>> seen{0, 0, 0, 0, 5, 5, 5, 5};
  auto r = m.after_crash(5, plan(), acked, seen);
  EXPECT_TRUE(r.ok()) << r.errors.front();
  EXPECT_EQ(r.acked_blocks, 4u);
  EXPECT_EQ(r.new_blocks, 4u);
  EXPECT_EQ(r.kept_blocks, 4u);
  EXPECT_EQ(r.commands_applied, 1u);
  EXPECT_EQ(m.expected(4), 5u);
  EXPECT_EQ(m.expected(0), 0u);
  EXPECT_TRUE(m.exact(seen).ok());
  seen[0] = 5;
  EXPECT_FALSE(m.exact(seen).ok());
}

TEST(BlockModel, LostDurableWriteIsCaught) {
  BlockModel m(0, 8);
  std::vector<bench::LbaRange> acked{{0, 4}};
  std::vector<std::optional<uint64_t>> seen{0, 0, 0, 0, 0, 0, 0, 0};
  auto r = m.after_crash(5, plan(), acked, seen);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.errors.front().find("write lost"), std::string::npos) << r.errors.front();
  EXPECT_EQ(m.expected(0), 0u) << "a failed check does not move the expectation";
}

TEST(BlockModel, StaleSeedAndTornBlockAreCaught) {
  BlockModel m(0, 8);
  std::vector<std::optional<uint64_t>> stale{3, 3, 3, 3, 0, 0, 0, 0};  // seed of no iteration
  EXPECT_FALSE(m.after_crash(5, plan(), {}, stale).ok());
  std::vector<std::optional<uint64_t>> torn{std::nullopt, 5, 5, 5, 0, 0, 0, 0};
  EXPECT_FALSE(m.after_crash(5, plan(), {}, torn).ok());
}

TEST(BlockModel, TornCommandIsCaught) {
  BlockModel m(0, 8);
  std::vector<std::optional<uint64_t>> seen{5, 5, 0, 0, 0, 0, 0, 0};  // half of command 0-3
  auto r = m.after_crash(5, plan(), {}, seen);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.errors.front().find("torn write"), std::string::npos) << r.errors.front();
}
