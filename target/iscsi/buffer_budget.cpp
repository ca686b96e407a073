#include "target/iscsi/buffer_budget.hpp"

#include <algorithm>

namespace swiftness::iscsi {

bool BufferBudget::admit_or_queue(uint32_t itt, size_t bytes) {
  // Nobody overtakes a queued write: a stream of small writes would starve a large one.
  if (queue_.empty() && fits(bytes)) {
    held_ += bytes;
    return true;
  }
  queue_.push_back({itt, bytes});
  return false;
}

std::optional<uint32_t> BufferBudget::admit_next() {
  if (queue_.empty() || !fits(queue_.front().bytes)) return std::nullopt;
  Waiting w = queue_.front();
  queue_.pop_front();
  held_ += w.bytes;
  return w.itt;
}

bool BufferBudget::cancel(uint32_t itt) {
  auto it =
      std::find_if(queue_.begin(), queue_.end(), [itt](const Waiting& w) { return w.itt == itt; });
  if (it == queue_.end()) return false;
  queue_.erase(it);
  return true;
}

}  // namespace swiftness::iscsi
