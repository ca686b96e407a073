// LBA range lock making COMPARE AND WRITE and ORWRITE atomic against other writes to the same
// blocks (SBC-3 5.2). Plain writes take shared holds, so writes never wait for each other;
// an exclusive hold waits until no overlapping hold is active, and blocks new overlapping ones.
// No lock is held across a co_await: waiters sleep on a timer that release() cancels.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace swiftness::scsi {

class RangeLock {
 public:
  class Hold {
   public:
    Hold() = default;
    Hold(RangeLock* lock, uint64_t id) : lock_(lock), id_(id) {}
    Hold(Hold&& o) noexcept : lock_(o.lock_), id_(o.id_) { o.lock_ = nullptr; }
    Hold& operator=(Hold&& o) noexcept {
      if (this != &o) {
        release();
        lock_ = o.lock_, id_ = o.id_, o.lock_ = nullptr;
      }
      return *this;
    }
    ~Hold() { release(); }
    void release() {
      if (lock_) lock_->release(id_);
      lock_ = nullptr;
    }

   private:
    RangeLock* lock_ = nullptr;
    uint64_t id_ = 0;
  };

  boost::asio::awaitable<Hold> acquire(uint64_t lba, uint64_t count, bool exclusive);
  // Non-blocking: only succeeds without waiting (plain writes use this first).
  bool try_acquire(uint64_t lba, uint64_t count, bool exclusive, Hold& out);

 private:
  struct Entry {
    uint64_t id, lba, count;
    bool exclusive;
  };
  bool conflicts(uint64_t lba, uint64_t count, bool exclusive) const;
  void release(uint64_t id);

  std::mutex mu_;
  uint64_t next_id_ = 1;
  std::vector<Entry> held_;
  std::vector<std::shared_ptr<boost::asio::steady_timer>> waiters_;
};

}  // namespace swiftness::scsi
