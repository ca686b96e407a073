#include "cache/write_batch.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

namespace swiftness::cache {

namespace asio = boost::asio;

void WriteBatcher::enqueue(Waiter w) {
  bool start = false;
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(w));
    start = !running_;
    running_ = true;
  }
  // One job at a time: what arrives meanwhile is the next batch, so commits keep arrival order.
  if (start) asio::post(pool_, [this] { run(); });
}

void WriteBatcher::run() {
  std::vector<Waiter> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(queue_);
  }
  std::vector<BatchedWrite*> writes;
  while (!batch.empty()) {
    writes.clear();
    for (Waiter& w : batch)
      writes.push_back(w.write);
    commit_(writes);
    // The next batch is taken (or the job ends) before this one's waiters resume: once the
    // last of them has, the LUN and this batcher may be gone.
    std::vector<Waiter> next;
    {
      std::lock_guard lock(mu_);
      ++counts_.batches;
      counts_.writes += batch.size();
      next.swap(queue_);
      running_ = !next.empty();
    }
    for (Waiter& w : batch) {
      auto ex = w.work.get_executor();
      asio::dispatch(
          ex, [h = std::move(w.handler), work = std::move(w.work)]() mutable { std::move(h)(); });
    }
    batch = std::move(next);
  }
}

}  // namespace swiftness::cache
