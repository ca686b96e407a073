#include "tests/bench/iscsi/io_plan.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace swiftness::bench {
namespace {

PlanSpec spec_of(uint64_t first, uint64_t blocks) {
  PlanSpec s;
  s.first_lba = first;
  s.blocks = blocks;
  s.sizes_in_blocks = {8, 2048};  // 4 KiB and 1 MiB at 512-byte blocks
  s.seed = 3;
  return s;
}

TEST(IoPlan, CoversTheRangeExactlyOnce) {
  auto plan = make_plan(spec_of(100, 100000));
  std::sort(plan.begin(), plan.end(), [](auto& a, auto& b) { return a.lba < b.lba; });
  uint64_t next = 100;
  for (const auto& io : plan) {
    ASSERT_EQ(next, io.lba);
    ASSERT_GT(io.blocks, 0u);
    next += io.blocks;
  }
  EXPECT_EQ(100100u, next);
}

TEST(IoPlan, MixesSizesCdbsAndFua) {
  auto spec = spec_of(0, 1 << 20);
  spec.fua = FuaChoice::kMixed;
  auto plan = make_plan(spec);
  auto count = [&](auto pred) { return std::count_if(plan.begin(), plan.end(), pred); };
  EXPECT_GT(count([](auto& io) { return io.blocks == 8; }), 0);
  EXPECT_GT(count([](auto& io) { return io.blocks == 2048; }), 0);
  EXPECT_GT(count([](auto& io) { return io.use16; }), 0);
  EXPECT_GT(count([](auto& io) { return !io.use16; }), 0);
  EXPECT_GT(count([](auto& io) { return io.fua; }), 0);
  EXPECT_GT(count([](auto& io) { return !io.fua; }), 0);
  // Shuffled: not in ascending LBA order.
  EXPECT_FALSE(
      std::is_sorted(plan.begin(), plan.end(), [](auto& a, auto& b) { return a.lba < b.lba; }));
}

TEST(IoPlan, IsRepeatableAndPhasesCutDifferently) {
  auto a = make_plan(spec_of(0, 50000));
  auto b = make_plan(spec_of(0, 50000));
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].lba, b[i].lba);
    EXPECT_EQ(a[i].blocks, b[i].blocks);
  }
  auto spec = spec_of(0, 50000);
  spec.phase = 1;
  auto c = make_plan(spec);
  std::vector<uint64_t> starts_a, starts_c;
  for (auto& io : a)
    starts_a.push_back(io.lba);
  for (auto& io : c)
    starts_c.push_back(io.lba);
  std::sort(starts_a.begin(), starts_a.end());
  std::sort(starts_c.begin(), starts_c.end());
  EXPECT_NE(starts_a, starts_c);
}

TEST(IoPlan, TenByteCdbOnlyWhenLbaAndLengthFit) {
  PlanSpec s;
  s.first_lba = (uint64_t{1} << 32) - 8;
  s.blocks = 16;
  s.sizes_in_blocks = {8};
  s.cdb = CdbChoice::k10;
  auto plan = make_plan(s);
  ASSERT_EQ(2u, plan.size());
  for (auto& io : plan)
    EXPECT_EQ(io.lba >= (uint64_t{1} << 32) - 8 && io.lba != s.first_lba, io.use16);
  s.first_lba = 0;
  s.blocks = 70000;
  s.sizes_in_blocks = {70000};
  plan = make_plan(s);
  ASSERT_EQ(1u, plan.size());
  EXPECT_TRUE(plan[0].use16);  // TRANSFER LENGTH > 65535 does not fit READ/WRITE (10)
}

}  // namespace
}  // namespace swiftness::bench
