// Group commit for cache writes (issue 7): the writes that arrive while a pool job commits
// others wait in a queue, and the next pool job commits all of them at once. At queue depth N a
// write then costs about 1/N of an io -> pool -> io round trip (two thread wake-ups, the bound
// on 4 KiB writes: tests/bench/README.md) and 1/N of a journal append, instead of one each.
// The commit function sees the writes in arrival order and sets each one's result.
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstddef>
#include <functional>
#include <mutex>
#include <span>
#include <utility>
#include <vector>

#include "cache/state.hpp"
#include "core/block_device.hpp"
#include "core/result.hpp"

namespace swiftness::cache {

struct BatchedWrite {
  core::Lba lba = 0;
  std::span<const std::byte> buf;
  std::vector<PageRun> runs;  // allocated for it; the commit frees them if it fails
  core::Result<void> result;  // set by the commit
};

class WriteBatcher {
 public:
  // Runs on a pool thread, one call at a time; must set the result of every write.
  using Commit = std::function<void(std::span<BatchedWrite* const>)>;

  WriteBatcher(boost::asio::any_io_executor pool, Commit commit)
      : pool_(std::move(pool)), commit_(std::move(commit)) {}

  // Completes (on the caller's executor) once `w` is committed; `w` must live until then.
  boost::asio::awaitable<void> submit(BatchedWrite& w) {
    return boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void()>(
        [this, wp = &w](auto handler) {
          auto ex = boost::asio::get_associated_executor(handler);
          enqueue(Waiter{wp, boost::asio::any_completion_handler<void()>(std::move(handler)),
                         boost::asio::make_work_guard(boost::asio::any_io_executor(ex))});
        },
        boost::asio::use_awaitable);
  }

  // Batches committed and writes in them so far (tests and benchmarks).
  struct Counts {
    uint64_t batches = 0;
    uint64_t writes = 0;
  };
  Counts counts() const {
    std::lock_guard lock(mu_);
    return counts_;
  }

 private:
  struct Waiter {
    BatchedWrite* write;
    boost::asio::any_completion_handler<void()> handler;
    // Keeps the caller's io_context from running out of work while the pool commits.
    boost::asio::executor_work_guard<boost::asio::any_io_executor> work;
  };

  void enqueue(Waiter w);
  void run();  // pool

  boost::asio::any_io_executor pool_;
  Commit commit_;
  mutable std::mutex mu_;
  std::vector<Waiter> queue_;
  bool running_ = false;  // a pool job owns the queue's next batch
  Counts counts_;
};

}  // namespace swiftness::cache
