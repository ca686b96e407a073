// The task buffer bytes one connection holds, and the FIFO of writes waiting for room before
// their R2Ts go out (issue 8). Sans-I/O: the connection calls it on its strand, the unit tests
// call it directly.
//
// Why the queue always moves: the bytes held belong to commands that are running (storage
// calls are bounded, they end and give their bytes back) or to writes whose R2Ts went out (the
// initiator must send that data, RFC 7143 §11.8; once it is in the write runs and ends). Each of
// those ends calls release(), and the head of the queue is admitted as soon as it fits, or when
// nothing else is held at all, so a write larger than the whole budget still runs on its own.
// A peer that never sends the data its R2Ts asked for stalls only its own writes, and ABORT
// TASK, a reset or the connection's end releases them. Writes waiting in the queue hold no
// budget: at most the unsolicited data the initiator may send unasked (FirstBurstLength each,
// and the command window bounds how many there are).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>

namespace swiftness::iscsi {

class BufferBudget {
 public:
  explicit BufferBudget(size_t limit) : limit_(limit) {}

  // Bytes taken without asking: a running command's buffer, a write with no R2T to send.
  void hold(size_t bytes) { held_ += bytes; }
  void release(size_t bytes) { held_ -= bytes; }

  // A write that needs R2Ts for a buffer of `bytes`: true if it may have them now (its bytes are
  // then held). False puts it at the back of the queue, where it stays until admit_next()
  // returns it or cancel() removes it.
  bool admit_or_queue(uint32_t itt, size_t bytes);
  // The next queued write that fits now, in arrival order; its bytes are held from here on.
  // Call until it returns nullopt after anything was released or cancelled.
  std::optional<uint32_t> admit_next();
  // A queued write that ended before it was admitted (aborted, failed, connection closed).
  // False if it was not queued.
  bool cancel(uint32_t itt);

  size_t held() const { return held_; }
  size_t limit() const { return limit_; }
  size_t queued() const { return queue_.size(); }

 private:
  struct Waiting {
    uint32_t itt;
    size_t bytes;
  };
  bool fits(size_t bytes) const { return held_ == 0 || held_ + bytes <= limit_; }

  size_t limit_;
  size_t held_ = 0;
  std::deque<Waiting> queue_;
};

}  // namespace swiftness::iscsi
