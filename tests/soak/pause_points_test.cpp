// The pause points the crash soak relies on (cache/hooks.hpp, SWIFTNESS_PAUSE_AT): a named point
// waits as long as asked, in coroutines and in blocking code; other points do not wait; "kill"
// ends the process with SIGKILL; malformed items are ignored.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>

#include "cache/hooks.hpp"

using swiftness::cache::Hooks;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

std::shared_ptr<Hooks> hooks_from(const char* value) {
  ::setenv("SWIFTNESS_PAUSE_AT", value, 1);
  auto h = Hooks::from_environment();
  ::unsetenv("SWIFTNESS_PAUSE_AT");
  return h;
}

// How long co_await hooks.run(name) takes on an io_context of its own.
Clock::duration run_time(Hooks& hooks, std::string_view name) {
  boost::asio::io_context io;
  const auto t0 = Clock::now();
  boost::asio::co_spawn(
      io, [&]() -> boost::asio::awaitable<void> { co_await hooks.run(name); },
      boost::asio::detached);
  io.run();
  return Clock::now() - t0;
}

Clock::duration blocking_time(Hooks& hooks, std::string_view name) {
  const auto t0 = Clock::now();
  hooks.run_blocking(name);
  return Clock::now() - t0;
}

}  // namespace

TEST(PausePoints, NamedPointsWaitOthersDoNot) {
  auto h = hooks_from("gc.before_delete:150,bogus,index.before_put:x,checkpoint.before_rename:100");
  EXPECT_GE(run_time(*h, "gc.before_delete"), 150ms);
  EXPECT_LT(run_time(*h, "upload.after_put"), 100ms);
  EXPECT_LT(run_time(*h, "index.before_put"), 100ms) << "a malformed duration is ignored";
  EXPECT_GE(blocking_time(*h, "checkpoint.before_rename"), 100ms);
  EXPECT_LT(blocking_time(*h, "gc.after_delete"), 100ms);
}

TEST(PausePoints, UnsetMeansNoPause) {
  ::unsetenv("SWIFTNESS_PAUSE_AT");
  auto h = Hooks::from_environment();
  EXPECT_LT(run_time(*h, "gc.before_delete"), 100ms);
  EXPECT_LT(blocking_time(*h, "checkpoint.before_rename"), 100ms);
}

TEST(PausePointsDeathTest, KillEndsTheProcessWithSigkill) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto h = hooks_from("checkpoint.before_rename:kill");
  EXPECT_LT(blocking_time(*h, "gc.before_delete"), 100ms);
  EXPECT_EXIT(h->run_blocking("checkpoint.before_rename"), ::testing::KilledBySignal(SIGKILL), "");
  EXPECT_EXIT((void)run_time(*h, "checkpoint.before_rename"), ::testing::KilledBySignal(SIGKILL),
              "");
}
