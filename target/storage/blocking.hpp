// Runs a blocking call (pread, pwrite, fdatasync) on a separate executor and resumes the
// awaiting coroutine on its own executor (design.md §8: blocking file work never runs on the
// io_context threads). One hop out, one hop back: no extra allocation beyond Asio's handler.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <type_traits>
#include <utility>

namespace swiftness::storage {

template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> run_blocking(boost::asio::any_io_executor pool,
                                                              F fn) {
  using R = std::invoke_result_t<F&>;
  co_return co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>, void(R)>(
      [pool](auto handler, F f) {
        // Keep the caller's executor busy while the work is away, so its io_context does not
        // run out of work and return.
        auto home = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                        boost::asio::execution::outstanding_work.tracked);
        boost::asio::post(pool, [f = std::move(f), handler = std::move(handler),
                                 home = std::move(home)]() mutable {
          R r = f();
          boost::asio::post(home, [handler = std::move(handler), r = std::move(r)]() mutable {
            std::move(handler)(std::move(r));
          });
        });
      },
      boost::asio::use_awaitable, std::move(fn));
}

}  // namespace swiftness::storage
