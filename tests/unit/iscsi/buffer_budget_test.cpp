// The write admission queue (issue 8): writes get their R2Ts in arrival order while the bytes
// held stay within the budget, a write larger than the budget runs alone, and cancelled writes
// leave the queue.
#include "target/iscsi/buffer_budget.hpp"

#include <gtest/gtest.h>

using swiftness::iscsi::BufferBudget;

namespace {
constexpr size_t kMiB = 1u << 20;
}

TEST(BufferBudget, AdmitsWhileItFitsThenQueuesInOrder) {
  BufferBudget b(16 * kMiB);
  EXPECT_TRUE(b.admit_or_queue(1, 8 * kMiB));
  EXPECT_TRUE(b.admit_or_queue(2, 8 * kMiB));
  EXPECT_EQ(b.held(), 16 * kMiB);
  EXPECT_FALSE(b.admit_or_queue(3, 8 * kMiB));
  // A small write does not overtake the queued large one.
  EXPECT_FALSE(b.admit_or_queue(4, 4096));
  EXPECT_EQ(b.queued(), 2u);
  EXPECT_EQ(b.admit_next(), std::nullopt);
  b.release(8 * kMiB);
  EXPECT_EQ(b.admit_next(), 3u);
  EXPECT_EQ(b.admit_next(), std::nullopt) << "16 MiB held: the 4 KiB write waits";
  b.release(8 * kMiB);
  EXPECT_EQ(b.admit_next(), 4u);
  EXPECT_EQ(b.held(), 8 * kMiB + 4096);
  EXPECT_EQ(b.queued(), 0u);
}

TEST(BufferBudget, AWriteLargerThanTheBudgetRunsAloneAndNeverStarves) {
  BufferBudget b(16 * kMiB);
  b.hold(1 * kMiB);  // a running READ
  EXPECT_FALSE(b.admit_or_queue(7, 64 * kMiB));
  EXPECT_FALSE(b.admit_or_queue(8, 4096));
  EXPECT_EQ(b.admit_next(), std::nullopt);
  b.release(1 * kMiB);
  EXPECT_EQ(b.admit_next(), 7u) << "nothing else is held: the big write may run";
  EXPECT_EQ(b.held(), 64 * kMiB);
  EXPECT_EQ(b.admit_next(), std::nullopt);
  b.release(64 * kMiB);
  EXPECT_EQ(b.admit_next(), 8u);
}

TEST(BufferBudget, CancelledWritesLeaveTheQueueAndUnblockTheRest) {
  BufferBudget b(16 * kMiB);
  EXPECT_TRUE(b.admit_or_queue(1, 12 * kMiB));
  EXPECT_FALSE(b.admit_or_queue(2, 8 * kMiB));
  EXPECT_FALSE(b.admit_or_queue(3, 2 * kMiB));
  EXPECT_TRUE(b.cancel(2));
  EXPECT_FALSE(b.cancel(2));
  EXPECT_FALSE(b.cancel(1)) << "admitted writes are released, not cancelled";
  EXPECT_EQ(b.admit_next(), 3u);
  EXPECT_EQ(b.held(), 14 * kMiB);
  b.release(12 * kMiB);
  b.release(2 * kMiB);
  EXPECT_EQ(b.held(), 0u);
}

// Every sequence of admissions, releases and cancellations ends with everything admitted once
// the holders are released: the queue cannot wedge.
TEST(BufferBudget, TheQueueAlwaysDrainsOnceHoldersRelease) {
  BufferBudget b(16 * kMiB);
  std::vector<std::pair<uint32_t, size_t>> admitted;
  uint32_t seed = 12345;
  auto next = [&] { return seed = seed * 1103515245u + 12345u; };
  std::vector<size_t> sizes(200);
  for (uint32_t itt = 0; itt < 200; ++itt) {
    sizes[itt] = (next() >> 8) % (24 * kMiB) + 1;
    if (b.admit_or_queue(itt, sizes[itt])) admitted.push_back({itt, sizes[itt]});
    if (itt % 7 == 0) b.cancel(itt / 2);
  }
  size_t done = admitted.size();
  for (int round = 0; round < 1000 && (b.queued() || !admitted.empty()); ++round) {
    if (!admitted.empty()) {
      b.release(admitted.front().second);
      admitted.erase(admitted.begin());
    }
    while (auto itt = b.admit_next()) {
      admitted.push_back({*itt, sizes[*itt]});
      ++done;
      size_t held = 0;
      for (auto& a : admitted)
        held += a.second;
      EXPECT_TRUE(held <= b.limit() || admitted.size() == 1) << "over budget with company";
    }
  }
  EXPECT_EQ(b.queued(), 0u);
  EXPECT_EQ(b.held(), 0u);
  EXPECT_GT(done, 150u);
}
