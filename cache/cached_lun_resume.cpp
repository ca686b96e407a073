// Writes resume by themselves once the cache file system works again (issue 8, cache-device
// faults). A failed journal write, sync or checkpoint stops writes (local_failure_locked): the
// journal may hold a hole, and after a failed fdatasync the kernel may have dropped pages that
// the next fdatasync will not report. A bounded background probe, with a growing interval,
// checks that the directory takes a file as large as a checkpoint again; then every cached
// page is checked against its CRC32C (a dirty page that a failed writeback lost is marked
// damaged: MEDIUM ERROR until rewritten, never served), and a fresh checkpoint, which starts a
// new journal, replaces the one that may have a hole. Only then are writes accepted again.
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "cache/blocking.hpp"
#include "cache/cached_lun.hpp"
#include "core/crc32c.hpp"
#include "core/log.hpp"

namespace swiftness::cache {

using core::Result;
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

void CachedLun::start_resume_probe_locked() {
  if (cfg_.resume_probe_interval.count() <= 0 || stopping_ || resume_running_.exchange(true))
    return;
  auto self = weak_from_this().lock();
  if (!self) {  // still attaching: open() fails and nothing is left to resume
    resume_running_ = false;
    return;
  }
  ++loops_running_;
  asio::co_spawn(
      ex_, [self]() { return self->resume_loop(); }, asio::detached);
}

asio::awaitable<void> CachedLun::resume_loop() {
  auto wait = cfg_.resume_probe_interval;
  const std::chrono::milliseconds most(60'000);
  while (!stopping_) {
    const auto until = Clock::now() + wait;
    while (!stopping_ && Clock::now() < until) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      co_await sleep(std::clamp(left, std::chrono::milliseconds(1), std::chrono::milliseconds(50)));
    }
    if (stopping_) break;
    const bool resumed = co_await run_blocking(pool_, [this]() { return try_resume_blocking(); });
    if (resumed) break;
    wait = std::min(wait * 2, most);
  }
  resume_running_ = false;
  --loops_running_;
}

bool CachedLun::try_resume_blocking() {
  const std::string base = sanitized();
  size_t probe_bytes = 0;
  {
    std::lock_guard lock(mu_);
    if (!failed_) return true;
    CheckpointHeader h;
    probe_bytes = encode_checkpoint(h, *state_).size();
  }
  // 1. Room and a writable file system: a file as large as the checkpoint, written and synced.
  // Cheap and leaves nothing behind, so a fault that lasts costs one small file per probe.
  const std::string probe = base + ".probe";
  (void)fs_->remove(probe);
  auto f = fs_->open(probe, true, false);
  if (!f) return false;
  std::vector<std::byte> zeros(probe_bytes);
  auto ok = (*f)->pwrite(0, zeros);
  if (ok) ok = (*f)->sync();
  f->reset();
  (void)fs_->remove(probe);
  if (!ok) return false;
  // 2. The pages. The state is frozen while writes are stopped (no writes, fills, unmaps,
  // uploads or evictions run), so the list stays true without holding the lock.
  struct Check {
    uint64_t chunk;
    uint32_t block, page, crc;
  };
  std::vector<Check> checks;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, c] : state_->chunks) {
      for (uint32_t b = 0; b < c.entries.size(); ++b) {
        const uint32_t e = c.entries[b];
        if (is_page(e) && state_->page_crc_known(e))
          checks.push_back({id, b, e, state_->page_crc(e)});
      }
    }
  }
  std::vector<std::byte> buf(block_size_);
  uint64_t bad = 0;
  for (const Check& c : checks) {
    if (!data_->pread(uint64_t(c.page) * block_size_, buf)) return false;
    if (core::crc32c(std::span<const std::byte>(buf)) == c.crc) continue;
    std::lock_guard lock(mu_);
    note_bad_page_locked(c.chunk, c.block, c.page, "resume");
    ++bad;
  }
  // 3. A checkpoint of the state as it is, and a fresh journal after it.
  if (!checkpoint_blocking(true)) return false;
  std::lock_guard lock(mu_);
  failed_ = false;
  failed_errc_ = {};
  core::logger("cache")->warn(
      "{}: the cache file system works again: writes resumed ({} cached pages checked, {} failed "
      "their CRC32C)",
      lun_.container, checks.size(), bad);
  return true;
}

}  // namespace swiftness::cache
