// The background flusher: picks dirty chunks (eager above the low watermark or on drain, else
// after max_dirty_age) and uploads each as a new immutable object, marking clean only the
// blocks that are still exactly what was uploaded.
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <cstring>
#include <memory>
#include <span>

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

// ---- the flusher ----

asio::awaitable<void> CachedLun::upload(uint64_t chunk) {
  const uint32_t bs = block_size_;
  std::vector<uint32_t> snap;
  std::vector<uint64_t> snap_dirty;
  std::vector<std::optional<uint32_t>> snap_crc;  // what each page must hold (issue 8)
  ObjectRef base;
  ObjectRef fresh;
  uint64_t unmap_epoch = 0;
  uint64_t snap_seq = 0;
  uint32_t n = 0;
  {
    std::lock_guard lock(mu_);
    ChunkState& c = state_->chunk(chunk);
    n = state_->blocks_in_chunk(chunk);
    snap = c.entries;
    snap.resize(n, kNoPage);
    snap_dirty = c.dirty;
    snap_dirty.resize((n + 63) / 64, 0);
    base = c.object;
    unmap_epoch = c.unmap_epoch;
    // Pinned until the commit: a page cannot be reused, so "same page" means "not rewritten".
    snap_crc.resize(n);
    for (uint32_t b = 0; b < n; ++b) {
      if (!is_page(snap[b])) continue;
      state_->pin(snap[b]);
      snap_crc[b] = expected_crc_locked(snap[b]);
    }
    fresh = {lun_.writer_epoch, state_->next_gen++, 0};
    uploading_gens_.insert(fresh.gen);  // the orphan collector keeps off it until the commit
    snap_seq = next_seq_ - 1;           // the records of every block in the snapshot
  }
  auto finish = [&](bool ok) {
    std::lock_guard lock(mu_);
    for (uint32_t e : snap) {
      if (is_page(e)) state_->unpin(e);
    }
    uploading_gens_.erase(fresh.gen);
    ChunkState& c = state_->chunk(chunk);
    c.uploading = false;
    store_healthy_ = ok;
    if (ok) {
      c.failures = 0;
      ++counters_.uploads;
    } else {
      ++c.failures;
      ++counters_.upload_failures;
      c.retry_after =
          Clock::now() + std::min<std::chrono::milliseconds>(
                             std::chrono::milliseconds(5000),
                             std::chrono::milliseconds(50) * (1u << std::min(c.failures, 7u)));
    }
    state_->maybe_erase(chunk);
  };

  // Not zero-filled: the read below writes every block that has a page, the base step every
  // other one (not cached, damaged or unmapped). A 4 MiB memset per upload was ~0.15 CPU s per
  // GiB drained.
  const std::unique_ptr<std::byte[]> content_buf(new std::byte[size_t(n) * bs]);
  const std::span<std::byte> content(content_buf.get(), size_t(n) * bs);
  // Blocks whose page failed its CRC: their bytes are not what was written and never go to
  // Swift. A clean one takes the current object's bytes (the same data); a dirty one too, but
  // stays dirty and damaged (reads get MEDIUM ERROR) until the initiator writes it again.
  std::vector<uint8_t> bad(n, 0);
  auto read_ok = co_await run_blocking(pool_, [&]() -> bool {
    for (uint32_t b = 0; b < n;) {
      uint32_t e = snap[b];
      if (!is_page(e)) {
        ++b;
        continue;
      }
      uint32_t k = 1;
      while (b + k < n && snap[b + k] == e + k)
        ++k;
      std::span<std::byte> dst(content.data() + size_t(b) * bs, size_t(k) * bs);
      if (!data_->pread(uint64_t(e) * bs, dst)) return false;
      for (uint32_t j = 0; j < k; ++j) {
        const auto& want = snap_crc[b + j];
        if (!want || core::crc32c(dst.subspan(size_t(j) * bs, bs)) == *want) continue;
        bad[b + j] = 1;
        std::memset(dst.data() + size_t(j) * bs, 0, bs);
        std::lock_guard lock(mu_);
        note_bad_page_locked(chunk, b + j, e + j, "upload");
      }
      b += k;
    }
    return true;
  });
  if (!read_ok) {
    finish(false);
    co_return;
  }
  // Partial chunk: the blocks we do not have come from the current object.
  std::shared_ptr<const std::vector<std::byte>> base_content;
  bool need_base = false;
  for (uint32_t b = 0; b < n && !need_base; ++b)
    need_base = snap[b] == kNoPage || bad[b];
  if (need_base && base.exists()) {
    auto got = co_await fetch_content(chunk, base);
    if (!got) {
      finish(false);
      co_return;
    }
    base_content = *got;
  }
  bool all_zero = false;
  co_await run_blocking(pool_, [&]() -> bool {
    for (uint32_t b = 0; b < n; ++b) {
      if (is_page(snap[b]) && !bad[b]) continue;
      // Not cached (or damaged): the object's bytes, zeros where it has none. Unmapped
      // (kZeroPage): zeros.
      const bool from_base = snap[b] == kNoPage || bad[b];
      size_t src = size_t(b) * bs;
      size_t have = from_base && base_content && src < base_content->size()
                        ? std::min<size_t>(bs, base_content->size() - src)
                        : 0;
      if (have) std::memcpy(content.data() + src, base_content->data() + src, have);
      std::memset(content.data() + src + have, 0, bs - have);
    }
    // An all-zero chunk needs no object (thin provisioning): it reads as zeros without one.
    all_zero =
        std::all_of(content.begin(), content.end(), [](std::byte x) { return x == std::byte{0}; });
    return true;
  });
  co_await hooks_->run(kHookUploadBeforePut);

  ObjectRef result;
  if (!all_zero) {
    bool stored = false;
    for (int attempt = 0; attempt < 8 && !stored; ++attempt) {
      // CRCs, the granule table and the MD5 on the pool: on the io_context they would hold up
      // every other upload, fetch and the Swift client's strand. The result stays in a local:
      // GCC 12 destroys a co_await's temporary result twice, fatal for one that owns a buffer.
      const uint64_t gen = fresh.gen;
      core::Result<EncodedChunk> encoded = std::make_error_code(std::errc::invalid_argument);
      const bool encoded_ok = co_await run_blocking(pool_, [&]() {
        encoded = codec_.encode_for_put(chunk, gen, content);
        return bool(encoded);
      });
      if (!encoded_ok) break;
      fresh.crc = encoded->content_crc;
      const core::ObjectKey key{lun_.container, object_name(chunk, fresh)};
      core::PutOptions opts;
      opts.if_none_match = true;  // immutable names: never overwrite (swift-api.md)
      opts.metadata = encoded->metadata;
      opts.etag = encoded->md5;  // computed once: the store would hash the body again
      // A raw chunk is PUT from `content` itself (encode_for_put did not copy it).
      const std::span<const std::byte> body =
          encoded->body_is_content ? std::span<const std::byte>(content) : encoded->body;
      auto put = co_await store_->put(key, body, opts);
      if (put && (put->etag.empty() || put->etag == encoded->md5)) {
        stored = true;
        break;
      }
      if (!put && put.error() == object_errc::precondition_failed) {
        // The name was taken by an upload whose commit a crash lost: take the next one.
        std::lock_guard lock(mu_);
        uploading_gens_.erase(fresh.gen);
        fresh.gen = state_->next_gen++;
        uploading_gens_.insert(fresh.gen);
        continue;
      }
      if (put) {
        core::logger("cache")->warn("{}/{}: ETag {} != MD5 {}", lun_.container, key.name, put->etag,
                                    encoded->md5);
      }
      break;
    }
    if (!stored) {
      finish(false);
      co_return;
    }
    result = fresh;
  }
  co_await hooks_->run(kHookUploadAfterPut);

  auto committed = co_await run_blocking(pool_, [&]() -> bool {
    // The blocks we mark clean must be on stable storage before the record that says so: a
    // replay must never find a "clean" block whose bytes were lost with the page cache.
    // Group commit: one sync round covers every upload whose snapshot it follows.
    if (!make_durable_blocking(snap_seq)) return false;
    std::lock_guard lock(mu_);
    if (failed_) return false;
    ChunkState& c = state_->chunk(chunk);
    if (c.unmap_epoch != unmap_epoch) {
      // The whole chunk was unmapped meanwhile: what we uploaded is already obsolete.
      if (!result.exists()) return true;
      Record rec;
      rec.type = RecordType::garbage;
      rec.name = object_name(chunk, result);
      rec.needed_index_seq = 0;
      state_->add_garbage({rec.name, 0});
      return bool(append_record_locked(rec));
    }
    Record rec;
    rec.type = RecordType::clean;
    rec.chunk = chunk;
    rec.ref = result;
    rec.needed_index_seq = index_seq_assigned_ + 1;
    rec.cleaned.assign((n + 63) / 64, 0);
    for (uint32_t b = 0; b < n; ++b) {
      bool was_dirty = (snap_dirty[b / 64] >> (b % 64)) & 1;
      // Versioned extents: only what is still exactly what we uploaded becomes clean; a
      // damaged block was not uploaded at all.
      if (was_dirty && !bad[b] && c.is_dirty(b) && b < c.entries.size() &&
          c.entries[b] == snap[b]) {
        rec.cleaned[b / 64] |= 1ull << (b % 64);
      }
    }
    state_->apply_clean(chunk, result, rec.cleaned, rec.needed_index_seq);
    index_dirty_ = true;
    return bool(append_record_locked(rec));
  });
  finish(committed);
}

asio::awaitable<void> CachedLun::flusher_loop() {
  auto gc_last = Clock::now();
  auto gc_running = std::make_shared<std::atomic<bool>>(false);  // one pass at a time
  auto orphan_last = Clock::now();
  while (!stopping_) {
    if (!kick_flusher_.exchange(false)) co_await sleep(std::chrono::milliseconds(10));
    if (stopping_) break;
    std::vector<uint64_t> start;
    {
      std::lock_guard lock(mu_);
      // The cache file failed (local_failure_locked): an upload could never be committed, and
      // each attempt would leave an orphan object in Swift and call Swift unhealthy.
      if (failed_) continue;
      const auto now = Clock::now();
      const bool eager =
          drain_requests_ > 0 || state_->dirty_blocks > uint64_t(cfg_.dirty_low_watermark * pages_);
      std::vector<std::pair<Clock::time_point, uint64_t>> candidates;
      for (uint64_t id : state_->dirty_chunks) {
        const ChunkState& c = state_->chunks.at(id);
        if (c.uploading || c.retry_after > now) continue;
        // Only damaged blocks left (issue 8): nothing to upload until they are written again.
        if (c.damaged >= c.dirty_count) continue;
        if (eager || now - c.dirty_since >= cfg_.max_dirty_age) {
          candidates.emplace_back(c.dirty_since, id);
        }
      }
      std::sort(candidates.begin(), candidates.end());
      int room = int(cfg_.flush_concurrency) - uploads_in_flight_.load();
      for (auto& [t, id] : candidates) {
        if (room-- <= 0) break;
        state_->chunk(id).uploading = true;
        ++uploads_in_flight_;
        start.push_back(id);
      }
    }
    for (uint64_t id : start) {
      asio::co_spawn(
          ex_,
          [self = shared_from_this(), id]() -> asio::awaitable<void> {
            co_await self->upload(id);
            --self->uploads_in_flight_;
            self->kick_flusher_ = true;
          },
          asio::detached);
    }
    bool want_index = false;
    {
      std::lock_guard lock(mu_);
      // Saving the index holds this loop (a journal sync and two PUTs), so no upload starts
      // meanwhile: during a drain only once nothing is left to upload (drain() saves it then
      // too), not after every upload, which left flush_concurrency slots idle between batches.
      const bool drained =
          drain_requests_ > 0 && state_->dirty_blocks == 0 && uploads_in_flight_.load() == 0;
      want_index =
          index_dirty_ && (drained || Clock::now() - last_index_save_ >= cfg_.index_interval);
    }
    if (want_index) (void)co_await save_index();
    if (Clock::now() - gc_last >= std::chrono::milliseconds(500) && !gc_running->exchange(true)) {
      gc_last = Clock::now();
      // Off this loop: a bulk delete (and the journal sync before it) held every upload start
      // behind it, so a drain's slots went idle while old objects were being deleted.
      ++loops_running_;
      asio::co_spawn(
          ex_,
          [self = shared_from_this(), gc_running]() -> asio::awaitable<void> {
            co_await self->collect_garbage();
            *gc_running = false;
            --self->loops_running_;
          },
          asio::detached);
    }
    if (cfg_.orphan_interval.count() > 0 && Clock::now() - orphan_last >= cfg_.orphan_interval &&
        !orphan_running_.exchange(true)) {
      orphan_last = Clock::now();
      // A listing pass can take a while on a big container: off the flusher's loop.
      ++loops_running_;
      asio::co_spawn(
          ex_,
          [self = shared_from_this()]() -> asio::awaitable<void> {
            (void)co_await self->collect_orphans();
            self->orphan_running_ = false;
            --self->loops_running_;
          },
          asio::detached);
    }
  }
  --loops_running_;
}

}  // namespace swiftness::cache
