// A one-shot "done" that coroutines on any io thread wait for, each up to its own deadline: a
// reader waiting for a fetch another reader started resumes as soon as the fetch lands,
// instead of polling for it (a 1 ms poll cost up to a millisecond per wait, and a timer
// wake-up per millisecond per waiter while the GET ran).
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>

namespace swiftness::cache {

class DoneSignal {
 public:
  explicit DoneSignal(boost::asio::any_io_executor ex) : ch_(std::move(ex)) {}

  // Wakes every waiter, and every later wait() returns at once. Any thread, more than once.
  // A closed channel is the broadcast: closing completes every pending receive, and a
  // receive on a closed channel completes at once. Nothing is ever sent on it.
  void set() { ch_.close(); }

  // true once set() was called, false when `deadline` came first.
  //
  // The race of the two waits runs on a strand of its own. `||` starts both as coroutines
  // and, when one completes, cancels the other from wherever the first completed; on an
  // io_context with several threads (ours) that cancellation raced the other wait's own
  // completion on another thread: a stress test crashed in cancellation_signal::emit within
  // seconds (hint 2), and a cold read in CI (hint 1, ASan) waited forever.
  boost::asio::awaitable<bool> wait(std::chrono::steady_clock::time_point deadline) {
    namespace asio = boost::asio;
    auto strand = asio::make_strand(co_await asio::this_coro::executor);
    auto race = race_on_strand(deadline);  // named: GCC 12 co_await temporaries bug
    auto on_strand = asio::co_spawn(strand, std::move(race), asio::use_awaitable);
    co_return co_await std::move(on_strand);
  }

 private:
  // Runs on the strand wait() made: both branches of `||` and their cancellation stay on it.
  boost::asio::awaitable<bool> race_on_strand(std::chrono::steady_clock::time_point deadline) {
    namespace asio = boost::asio;
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
    // as_tuple on both: the closed channel's error must count as "completed", not as a
    // failure that `||` would wait past. Named, not temporaries (GCC 12 co_await bug).
    auto done = ch_.async_receive(asio::as_tuple(asio::use_awaitable));
    auto expired = timer.async_wait(asio::as_tuple(asio::use_awaitable));
    auto first = std::move(done) || std::move(expired);
    auto which = co_await std::move(first);
    co_return which.index() == 0;
  }

  boost::asio::experimental::concurrent_channel<void(boost::system::error_code)> ch_;
};

}  // namespace swiftness::cache
