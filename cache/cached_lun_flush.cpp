// Local checkpoints, eviction, drain and shutdown. Fetching is in cached_lun_fetch.cpp, uploads
// in cached_lun_upload.cpp, the Swift index and garbage collection in cached_lun_gc.cpp.
#include <algorithm>

#include "cache/blocking.hpp"
#include "cache/cached_lun.hpp"
#include "core/crc32c.hpp"
#include "core/log.hpp"

namespace swiftness::cache {

using core::block_errc;
using core::object_errc;
using core::Result;
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// ---- local checkpoints and eviction ----

void CachedLun::evict_locked(uint64_t target_free) {
  if (state_->free_pages() + state_->quarantined() >= target_free) return;
  std::vector<std::pair<uint64_t, uint64_t>> lru;
  for (const auto& [id, c] : state_->chunks) {
    if (c.page_count > 0) lru.emplace_back(c.last_use, id);
  }
  std::sort(lru.begin(), lru.end());
  for (const auto& [tick, id] : lru) {
    if (state_->free_pages() + state_->quarantined() >= target_free) break;
    state_->evict_clean(id);
  }
}

Result<void> CachedLun::checkpoint_blocking(bool resuming) {
  std::lock_guard dlock(durability_mu_);
  uint64_t new_gen = 0;
  {
    std::lock_guard lock(mu_);
    if (failed_ && !resuming) return failed_errc_;
    new_gen = journal_gen_ + 1;
  }
  const std::string base = sanitized();
  const std::string jname = base + ".journal." + std::to_string(new_gen);
  (void)fs_->remove(jname);  // a leftover of a checkpoint that never completed
  auto nj = fs_->open(jname, true, false);
  if (!nj) {
    std::lock_guard lock(mu_);
    return local_failure_locked(nj.error(), "journal create", false);
  }
  std::vector<std::byte> body;
  std::vector<uint32_t> quarantine;
  uint64_t old_gen = 0;
  uint64_t last_seq = 0;
  {
    std::lock_guard lock(mu_);
    CheckpointHeader h;
    h.uuid = uuid_;
    h.block_size = block_size_;
    h.chunk_blocks = chunk_blocks_;
    h.lun_blocks = lun_blocks_;
    h.pages = pages_;
    h.last_seq = next_seq_ - 1;
    last_seq = h.last_seq;
    h.journal_gen = new_gen;
    body = encode_checkpoint(h, *state_);
    quarantine = state_->take_quarantine();
    old_gen = journal_gen_;
    journal_ = std::shared_ptr<File>(std::move(*nj));
    journal_gen_ = new_gen;
    journal_off_ = 0;
    data_since_checkpoint_ = 0;
  }
  auto fail = [&](std::string_view step, std::error_code ec) -> Result<void> {
    std::lock_guard lock(mu_);
    // Records now go to a journal no durable checkpoint points at: stop accepting writes.
    return local_failure_locked(ec, step, true);
  };
  // Every page the checkpoint refers to must be on stable storage before it is.
  if (auto r = data_->sync(); !r) return fail("sync before checkpoint", r.error());
  const std::string tmp = base + ".ckpt.tmp";
  (void)fs_->remove(tmp);
  auto f = fs_->open(tmp, true, false);
  if (!f) return fail("checkpoint create", f.error());
  auto written = (*f)->pwrite(0, body);
  if (written) written = (*f)->sync();
  if (!written) {
    f->reset();
    (void)fs_->remove(tmp);  // give the space back: a full file system is the likely cause
    return fail("checkpoint write", written.error());
  }
  f->reset();
  hooks_->run_blocking(kHookCheckpointBeforeRename);
  auto renamed = fs_->rename(tmp, base + ".ckpt");
  if (renamed) renamed = fs_->sync_dir();
  if (!renamed) return fail("checkpoint rename", renamed.error());
  {
    std::lock_guard lock(mu_);
    state_->release(quarantine);
    ++counters_.checkpoints;
  }
  durable_seq_ = std::max(durable_seq_, last_seq);  // the checkpoint holds every record so far
  (void)fs_->remove(base + ".journal." + std::to_string(old_gen));
  return {};
}

asio::awaitable<void> CachedLun::maintenance_loop() {
  auto last = Clock::now();
  while (!stopping_) {
    if (!kick_maintenance_.exchange(false)) co_await sleep(std::chrono::milliseconds(10));
    if (stopping_) break;
    bool need = false;
    {
      std::lock_guard lock(mu_);
      if (failed_) continue;
      const uint64_t low = std::max<uint64_t>(1, pages_ / 8);
      if (state_->free_pages() < low) evict_locked(std::max<uint64_t>(low, pages_ / 4));
      need = journal_off_ > cfg_.checkpoint_journal_bytes ||
             data_since_checkpoint_ > cfg_.checkpoint_data_bytes ||
             state_->quarantined() > pages_ / 4 ||
             (state_->quarantined() > 0 && state_->free_pages() < low &&
              Clock::now() - last >= std::chrono::milliseconds(20));
    }
    if (need) {
      last = Clock::now();
      (void)co_await run_blocking(pool_, [this]() { return checkpoint_blocking(); });
    }
  }
  --loops_running_;
}

// ---- drain and shutdown ----

asio::awaitable<Result<void>> CachedLun::drain(std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  ++drain_requests_;
  kick_flusher_ = true;
  Result<void> result = block_errc::unavailable;
  for (;;) {
    bool clean = false;
    bool stuck = false;
    {
      std::lock_guard lock(mu_);
      clean = state_->dirty_blocks == 0 && uploads_in_flight_.load() == 0;
      if (failed_) {
        result = failed_errc_;
        break;
      }
      // Issue 8: what is left is dirty blocks whose only copy failed its CRC. They cannot
      // reach Swift until the initiator writes them again; waiting out the limit helps nobody.
      stuck = !clean && uploads_in_flight_.load() == 0 && state_->damaged_pages() > 0;
      for (uint64_t id : state_->dirty_chunks) {
        if (!stuck) break;
        const ChunkState& c = state_->chunks.at(id);
        stuck = c.damaged >= c.dirty_count;
      }
      if (stuck) {
        core::logger("cache")->error(
            "{}: drain cannot finish: {} dirty blocks failed their cache-file CRC32C and exist "
            "nowhere else; write them again (reads of them get MEDIUM ERROR)",
            lun_.container, state_->damaged_pages());
        result = block_errc::medium_error;
        break;
      }
    }
    if (clean) {
      bool need_index = false;
      {
        std::lock_guard lock(mu_);
        need_index = index_dirty_ || state_->index_seq < index_seq_assigned_;
      }
      // Swift holds it all once the index is saved; the local journal saying so is made
      // durable too, so a restart does not go back to needing the superseded objects.
      if (!need_index || co_await save_index()) {
        result = co_await make_durable();
        break;
      }
    }
    if (Clock::now() >= deadline) break;
    co_await sleep(std::chrono::milliseconds(5));
  }
  --drain_requests_;
  co_return result;
}

asio::awaitable<void> CachedLun::abandon() {
  if (closed_.exchange(true)) co_return;
  stopping_ = true;
  while (loops_running_ > 0 || uploads_in_flight_ > 0 || fetches_in_flight_ > 0) {
    co_await sleep(std::chrono::milliseconds(2));
  }
}

asio::awaitable<void> CachedLun::close() {
  if (closed_.load()) co_return;
  co_await abandon();
  (void)co_await run_blocking(pool_, [this]() { return checkpoint_blocking(); });
}

asio::awaitable<Result<void>> CachedLun::checkpoint_now() {
  co_return co_await run_blocking(pool_, [this]() { return checkpoint_blocking(); });
}

asio::awaitable<Result<void>> CachedLun::save_index_now() {
  {
    std::lock_guard lock(mu_);
    index_dirty_ = true;
  }
  co_return co_await save_index();
}

asio::awaitable<void> CachedLun::collect_garbage_now() {
  co_await collect_garbage();
}

}  // namespace swiftness::cache
