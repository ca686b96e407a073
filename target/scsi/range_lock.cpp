#include "target/scsi/range_lock.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace swiftness::scsi {

bool RangeLock::conflicts(uint64_t lba, uint64_t count, bool exclusive) const {
  for (const auto& e : held_) {
    if (!exclusive && !e.exclusive) continue;
    const uint64_t a_end = lba + std::max<uint64_t>(count, 1);
    const uint64_t b_end = e.lba + std::max<uint64_t>(e.count, 1);
    if (lba < b_end && e.lba < a_end) return true;
  }
  return false;
}

bool RangeLock::try_acquire(uint64_t lba, uint64_t count, bool exclusive, Hold& out) {
  std::lock_guard lock(mu_);
  if (conflicts(lba, count, exclusive)) return false;
  const uint64_t id = next_id_++;
  held_.push_back({id, lba, count, exclusive});
  out = Hold(this, id);
  return true;
}

boost::asio::awaitable<RangeLock::Hold> RangeLock::acquire(uint64_t lba, uint64_t count,
                                                           bool exclusive) {
  auto ex = co_await boost::asio::this_coro::executor;
  for (;;) {
    std::shared_ptr<boost::asio::steady_timer> timer;
    {
      std::lock_guard lock(mu_);
      if (!conflicts(lba, count, exclusive)) {
        const uint64_t id = next_id_++;
        held_.push_back({id, lba, count, exclusive});
        co_return Hold(this, id);
      }
      timer = std::make_shared<boost::asio::steady_timer>(ex);
      // A bounded sleep as well, so a lost wake-up can only delay, never hang.
      timer->expires_after(std::chrono::milliseconds(50));
      waiters_.push_back(timer);
    }
    boost::system::error_code ec;
    co_await timer->async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
  }
}

void RangeLock::release(uint64_t id) {
  std::vector<std::shared_ptr<boost::asio::steady_timer>> wake;
  {
    std::lock_guard lock(mu_);
    std::erase_if(held_, [id](const Entry& e) { return e.id == id; });
    wake.swap(waiters_);
  }
  // Timers are not thread-safe: cancel each on its own executor.
  for (auto& t : wake)
    boost::asio::post(t->get_executor(), [t] { t->cancel(); });
}

}  // namespace swiftness::scsi
