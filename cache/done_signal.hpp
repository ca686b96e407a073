// A one-shot "done" that coroutines on any io thread wait for, each up to its own deadline: a
// reader waiting for a fetch another reader started resumes as soon as the fetch lands,
// instead of polling for it (a 1 ms poll cost up to a millisecond per wait, and a timer
// wake-up per millisecond per waiter while the GET ran).
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/steady_timer.hpp>
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
  boost::asio::awaitable<bool> wait(std::chrono::steady_clock::time_point deadline) {
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

 private:
  boost::asio::experimental::concurrent_channel<void(boost::system::error_code)> ch_;
};

}  // namespace swiftness::cache
