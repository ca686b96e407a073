// Runs a blocking function on the blocking-work pool and resumes the awaiting coroutine on its
// own executor (design.md §8: pwrite/fdatasync never run on the io_context threads).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <type_traits>
#include <utility>

namespace swiftness::cache {

template <class F>
boost::asio::awaitable<std::invoke_result_t<F>> run_blocking(boost::asio::any_io_executor pool,
                                                             F f) {
  using R = std::invoke_result_t<F>;
  return boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void(R)>(
      [pool](auto handler, F fn) {
        auto ex = boost::asio::get_associated_executor(handler);
        // Keeps the caller's io_context from running out of work while the pool is busy.
        auto work = boost::asio::make_work_guard(ex);
        boost::asio::post(pool, [fn = std::move(fn), handler = std::move(handler), ex,
                                 work = std::move(work)]() mutable {
          R r = fn();
          boost::asio::dispatch(ex, [handler = std::move(handler), r = std::move(r)]() mutable {
            std::move(handler)(std::move(r));
          });
        });
      },
      boost::asio::use_awaitable, std::move(f));
}

}  // namespace swiftness::cache
