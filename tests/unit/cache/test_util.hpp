// Helpers shared by the cache unit tests: run a coroutine to completion on a private io_context.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <future>
#include <stdexcept>
#include <utility>

namespace swiftness::test {

// Runs `aw` on `ctx` (which must not be running elsewhere) until it completes, bounded in time.
template <class T>
T run(boost::asio::io_context& ctx, boost::asio::awaitable<T> aw,
      std::chrono::seconds limit = std::chrono::seconds(30)) {
  auto fut = boost::asio::co_spawn(ctx, std::move(aw), boost::asio::use_future);
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (fut.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("test timed out");
    ctx.restart();
    ctx.run_one_for(std::chrono::milliseconds(1));
  }
  return fut.get();
}

}  // namespace swiftness::test
