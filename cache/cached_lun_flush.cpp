// The Swift side of the cache: fetching chunks (misses, read-ahead), filling the cache with
// them, the background flusher, the Swift index checkpoint, garbage collection, local
// checkpoints and eviction.
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <cstring>

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

struct CachedLun::FetchSlot {
  bool done = false;
  Result<std::shared_ptr<const std::vector<std::byte>>> result = block_errc::aborted;
};

// ---- reading chunk objects ----

asio::awaitable<Result<std::vector<std::byte>>> CachedLun::get_verified(uint64_t chunk,
                                                                        ObjectRef ref) {
  const core::ObjectKey key{lun_.container, object_name(chunk, ref)};
  const core::GetOptions opts;
  std::error_code last = block_errc::unavailable;
  auto backoff = std::chrono::milliseconds(20);
  // Names are immutable, so a replica can only lag by not having the object yet (404) or serve
  // damaged bytes: retry both, then report. Never serve bytes that fail their checksums.
  for (int attempt = 0; attempt < 6; ++attempt) {
    if (attempt > 0) {
      co_await sleep(backoff);
      backoff *= 2;
    }
    auto got = co_await store_->get(key, opts);
    if (got) {
      auto content = codec_.decode(chunk, ref.gen, *got, ref.crc);
      if (content) {
        std::lock_guard lock(mu_);
        ++counters_.fetches;
        co_return std::move(*content);
      }
      {
        std::lock_guard lock(mu_);
        ++counters_.checksum_failures;
      }
      core::logger("cache")->warn("{}/{}: checksum mismatch (attempt {})", lun_.container, key.name,
                                  attempt + 1);
      last = block_errc::medium_error;
      continue;
    }
    // An object our index refers to is gone: the data is lost (MEDIUM ERROR); anything else
    // means Swift is not answering (LOGICAL UNIT COMMUNICATION FAILURE via unavailable).
    last = got.error() == object_errc::not_found ? std::error_code(block_errc::medium_error)
                                                 : std::error_code(block_errc::unavailable);
  }
  co_return last;
}

asio::awaitable<Result<std::shared_ptr<const std::vector<std::byte>>>> CachedLun::fetch_content(
    uint64_t chunk, ObjectRef ref) {
  std::shared_ptr<FetchSlot> slot;
  bool owner = false;
  const auto key = std::make_pair(chunk, ref.gen);
  {
    std::lock_guard lock(mu_);
    auto it = fetches_.find(key);
    if (it != fetches_.end()) {
      slot = it->second;
    } else {
      slot = std::make_shared<FetchSlot>();
      fetches_[key] = slot;
      owner = true;
    }
  }
  if (!owner) {
    for (;;) {
      {
        std::lock_guard lock(mu_);
        if (slot->done) co_return slot->result;
      }
      co_await sleep(std::chrono::milliseconds(1));
    }
  }
  ++fetches_in_flight_;
  auto got = co_await get_verified(chunk, ref);
  co_await hooks_->run(kHookFetchAfterGet);
  Result<std::shared_ptr<const std::vector<std::byte>>> out = block_errc::aborted;
  if (got) {
    out = std::make_shared<const std::vector<std::byte>>(std::move(*got));
  } else {
    out = got.error();
  }
  {
    std::lock_guard lock(mu_);
    slot->done = true;
    slot->result = out;
  }
  // The reader does not wait for the cache fill; the slot stays until the fill is done so a
  // second reader finds the bytes instead of fetching them again.
  asio::co_spawn(
      ex_,
      [self = shared_from_this(), chunk, ref, key, out]() -> asio::awaitable<void> {
        if (out) co_await self->fill(chunk, ref, *out);
        {
          std::lock_guard lock(self->mu_);
          self->fetches_.erase(key);
        }
        --self->fetches_in_flight_;
      },
      asio::detached);
  co_return out;
}

asio::awaitable<void> CachedLun::fill(uint64_t chunk, ObjectRef ref,
                                      std::shared_ptr<const std::vector<std::byte>> content) {
  if (stopping_) co_return;
  std::vector<uint32_t> blocks;
  std::vector<PageRun> runs;
  {
    std::lock_guard lock(mu_);
    if (failed_) co_return;
    ChunkState* c = state_->find(chunk);
    if (!c || !(c->object == ref)) co_return;
    uint32_t n = state_->blocks_in_chunk(chunk);
    for (uint32_t b = 0; b < n; ++b) {
      if (b >= c->entries.size() || c->entries[b] == kNoPage) blocks.push_back(b);
    }
    // Keep a reserve of free pages for writes; clean data is only worth caching with room.
    if (blocks.empty() || state_->free_pages() < blocks.size() + pages_ / 16) {
      if (!blocks.empty()) kick_maintenance_ = true;
      co_return;
    }
    auto got = state_->allocate(uint32_t(blocks.size()));
    if (!got) co_return;
    runs = std::move(*got);
  }
  co_await run_blocking(pool_, [this, chunk, ref, &blocks, &runs, &content]() -> bool {
    const size_t bs = block_size_;
    std::byte* buf = static_cast<std::byte*>(std::aligned_alloc(
        kDirectAlignment,
        (blocks.size() * bs + kDirectAlignment - 1) / kDirectAlignment * kDirectAlignment));
    std::vector<uint32_t> crcs(blocks.size());
    for (size_t i = 0; i < blocks.size(); ++i) {
      size_t src = size_t(blocks[i]) * bs;
      size_t have = src < content->size() ? std::min(bs, content->size() - src) : 0;
      if (have) std::memcpy(buf + i * bs, content->data() + src, have);
      if (have < bs) std::memset(buf + i * bs + have, 0, bs - have);
      crcs[i] = core::crc32c(std::span<const std::byte>(buf + i * bs, bs));
    }
    std::vector<uint32_t> pages;
    size_t off = 0;
    bool ok = true;
    for (const PageRun& r : runs) {
      ok = ok && data_->pwrite(uint64_t(r.page) * bs,
                               std::span<const std::byte>(buf + off, size_t(r.count) * bs));
      for (uint32_t i = 0; i < r.count; ++i)
        pages.push_back(r.page + i);
      off += size_t(r.count) * bs;
    }
    std::free(buf);
    std::lock_guard lock(mu_);
    ChunkState* c = state_->find(chunk);
    if (!ok || failed_ || !c || !(c->object == ref)) {
      state_->free_unreferenced(runs);
      return false;
    }
    // Only blocks still uncached get the fetched bytes: a write or unmap meanwhile wins.
    Record rec;
    rec.type = RecordType::fill;
    rec.ref = ref;
    std::vector<uint32_t> applied_crcs;
    std::vector<PageRun> unused;
    for (size_t i = 0; i < blocks.size(); ++i) {
      uint32_t b = blocks[i];
      bool still = b >= c->entries.size() || c->entries[b] == kNoPage;
      if (!still) {
        unused.push_back({pages[i], 1});
        continue;
      }
      applied_crcs.push_back(crcs[i]);
      Segment* s = rec.segments.empty() ? nullptr : &rec.segments.back();
      if (s && s->first + s->count == b) {
        ++s->count;
        if (s->runs.back().page + s->runs.back().count == pages[i]) {
          ++s->runs.back().count;
        } else {
          s->runs.push_back({pages[i], 1});
        }
      } else {
        rec.segments.push_back({chunk, b, 1, {{pages[i], 1}}});
      }
    }
    state_->free_unreferenced(unused);
    if (rec.segments.empty()) return true;
    rec.data_check = combine_block_crcs(applied_crcs);
    for (const Segment& s : rec.segments)
      state_->apply_fill(s, ref);
    touch_locked(*c);
    return bool(append_record_locked(rec));
  });
}

// ---- the flusher ----

asio::awaitable<void> CachedLun::upload(uint64_t chunk) {
  const uint32_t bs = block_size_;
  std::vector<uint32_t> snap;
  std::vector<uint64_t> snap_dirty;
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
    for (uint32_t e : snap) {
      if (is_page(e)) state_->pin(e);
    }
    fresh = {lun_.writer_epoch, state_->next_gen++, 0};
    snap_seq = next_seq_ - 1;  // the records of every block in the snapshot
  }
  auto finish = [&](bool ok) {
    std::lock_guard lock(mu_);
    for (uint32_t e : snap) {
      if (is_page(e)) state_->unpin(e);
    }
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

  // Partial chunk: the blocks we do not have come from the current object.
  std::shared_ptr<const std::vector<std::byte>> base_content;
  bool need_base = base.exists() &&
                   std::any_of(snap.begin(), snap.end(), [](uint32_t e) { return e == kNoPage; });
  if (need_base) {
    auto got = co_await fetch_content(chunk, base);
    if (!got) {
      finish(false);
      co_return;
    }
    base_content = *got;
  }
  std::vector<std::byte> content(size_t(n) * bs);
  auto read_ok = co_await run_blocking(pool_, [&]() -> bool {
    for (uint32_t b = 0; b < n;) {
      uint32_t e = snap[b];
      if (is_page(e)) {
        uint32_t k = 1;
        while (b + k < n && snap[b + k] == e + k)
          ++k;
        if (!data_->pread(uint64_t(e) * bs,
                          std::span<std::byte>(content.data() + size_t(b) * bs, size_t(k) * bs))) {
          return false;
        }
        b += k;
        continue;
      }
      if (e == kNoPage && base_content) {
        size_t src = size_t(b) * bs;
        size_t have =
            src < base_content->size() ? std::min<size_t>(bs, base_content->size() - src) : 0;
        if (have) std::memcpy(content.data() + src, base_content->data() + src, have);
      }
      ++b;
    }
    return true;
  });
  if (!read_ok) {
    finish(false);
    co_return;
  }
  co_await hooks_->run(kHookUploadBeforePut);

  // An all-zero chunk needs no object (thin provisioning): it reads as zeros without one.
  bool all_zero =
      std::all_of(content.begin(), content.end(), [](std::byte b) { return b == std::byte{0}; });
  ObjectRef result;
  if (!all_zero) {
    bool stored = false;
    for (int attempt = 0; attempt < 8 && !stored; ++attempt) {
      auto encoded = codec_.encode(chunk, fresh.gen, content);
      if (!encoded) break;
      fresh.crc = encoded->content_crc;
      const core::ObjectKey key{lun_.container, object_name(chunk, fresh)};
      core::PutOptions opts;
      opts.if_none_match = true;  // immutable names: never overwrite (swift-api.md)
      opts.metadata = encoded->metadata;
      auto put = co_await store_->put(key, encoded->body, opts);
      if (put && (put->etag.empty() || put->etag == encoded->md5)) {
        stored = true;
        break;
      }
      if (!put && put.error() == object_errc::precondition_failed) {
        // The name was taken by an upload whose commit a crash lost: take the next one.
        std::lock_guard lock(mu_);
        fresh.gen = state_->next_gen++;
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
      // Versioned extents: only what is still exactly what we uploaded becomes clean.
      if (was_dirty && c.is_dirty(b) && b < c.entries.size() && c.entries[b] == snap[b]) {
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
  while (!stopping_) {
    if (!kick_flusher_.exchange(false)) co_await sleep(std::chrono::milliseconds(10));
    if (stopping_) break;
    std::vector<uint64_t> start;
    {
      std::lock_guard lock(mu_);
      const auto now = Clock::now();
      const bool eager =
          drain_requests_ > 0 || state_->dirty_blocks > uint64_t(cfg_.dirty_low_watermark * pages_);
      std::vector<std::pair<Clock::time_point, uint64_t>> candidates;
      for (uint64_t id : state_->dirty_chunks) {
        const ChunkState& c = state_->chunks.at(id);
        if (c.uploading || c.retry_after > now) continue;
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
      want_index = index_dirty_ &&
                   (drain_requests_ > 0 || Clock::now() - last_index_save_ >= cfg_.index_interval);
    }
    if (want_index) (void)co_await save_index();
    if (Clock::now() - gc_last >= std::chrono::milliseconds(500)) {
      gc_last = Clock::now();
      co_await collect_garbage();
    }
  }
  --loops_running_;
}

// ---- Swift index and garbage collection ----

asio::awaitable<Result<void>> CachedLun::save_index() {
  std::vector<IndexEntry> entries;
  uint64_t seq = 0, prev = 0;
  {
    std::lock_guard lock(mu_);
    seq = ++index_seq_assigned_;
    prev = state_->index_seq;
    index_dirty_ = false;
    for (const auto& [id, c] : state_->chunks) {
      if (c.object.exists()) entries.push_back({id, c.object});
    }
  }
  std::sort(entries.begin(), entries.end(),
            [](const IndexEntry& a, const IndexEntry& b) { return a.chunk < b.chunk; });
  const auto body = encode_index(uuid_, seq, lun_blocks_, entries);
  // The journal records behind these entries go to stable storage first: Swift's index never
  // names an object that a crash could make the local cache forget it uploaded.
  if (auto d = co_await make_durable(); !d) {
    std::lock_guard lock(mu_);
    index_dirty_ = true;
    co_return d.error();
  }
  co_await hooks_->run(kHookIndexBeforePut);
  char name[32];
  std::snprintf(name, sizeof name, "index/%016llx", (unsigned long long)seq);
  const core::ObjectKey key{lun_.container, name};
  core::PutOptions opts;
  opts.if_none_match = true;
  auto put = co_await store_->put(key, body, opts);
  const core::ObjectKey pointer{lun_.container, "index.pointer"};
  const std::string text = std::to_string(seq);
  const core::PutOptions plain;
  if (put) {
    auto p =
        co_await store_->put(pointer, std::as_bytes(std::span(text.data(), text.size())), plain);
    if (!p) put = p.error();
  }
  if (!put) {
    std::lock_guard lock(mu_);
    index_dirty_ = true;
    co_return put.error();
  }
  co_return co_await run_blocking(pool_, [this, seq, prev]() -> Result<void> {
    std::lock_guard lock(mu_);
    last_index_save_ = Clock::now();
    if (seq <= state_->index_seq || failed_) return {};
    state_->index_seq = seq;
    Record rec;
    rec.type = RecordType::index_saved;
    rec.index_seq = seq;
    if (auto r = append_record_locked(rec); !r) return r;
    if (prev != 0) {
      char old[32];
      std::snprintf(old, sizeof old, "index/%016llx", (unsigned long long)prev);
      Record g;
      g.type = RecordType::garbage;
      g.name = old;
      g.needed_index_seq = seq;
      state_->add_garbage({g.name, seq});
      return append_record_locked(g);
    }
    return {};
  });
}

asio::awaitable<void> CachedLun::collect_garbage() {
  std::vector<core::ObjectKey> keys;
  {
    std::lock_guard lock(mu_);
    const auto now = Clock::now();
    for (const Garbage& g : state_->garbage) {
      // Deleted only once an index without it is in Swift, and after a grace period for
      // readers of an older index (another gateway attaching, a lagging replica).
      if (g.needed_index_seq > state_->index_seq) continue;
      auto since = gc_since_.try_emplace(g.name, now).first->second;
      if (now - since < cfg_.gc_grace) continue;
      keys.push_back({lun_.container, g.name});
      if (keys.size() >= 1000) break;
    }
  }
  if (keys.empty()) co_return;
  // The records that stopped referring to these objects (clean, unmap, index saved) must be
  // on stable storage first, or a crash could replay a state that needs a deleted object.
  if (!co_await make_durable()) co_return;
  auto r = co_await store_->bulk_delete(keys);
  if (!r) co_return;
  std::lock_guard lock(mu_);
  std::set<std::string> failed;
  for (const auto& [name, status] : r->errors)
    failed.insert(name);
  std::set<std::string> done;
  for (const auto& k : keys) {
    if (!failed.count(k.name) && !failed.count(k.container + "/" + k.name)) done.insert(k.name);
  }
  std::erase_if(state_->garbage, [&](const Garbage& g) { return done.count(g.name) > 0; });
  for (const auto& name : done)
    gc_since_.erase(name);
  counters_.gc_deleted += done.size();
}

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

Result<void> CachedLun::checkpoint_blocking() {
  std::lock_guard dlock(durability_mu_);
  uint64_t new_gen = 0;
  {
    std::lock_guard lock(mu_);
    if (failed_) return block_errc::io_error;
    new_gen = journal_gen_ + 1;
  }
  const std::string base = sanitized();
  const std::string jname = base + ".journal." + std::to_string(new_gen);
  (void)fs_->remove(jname);  // a leftover of a checkpoint that never completed
  auto nj = fs_->open(jname, true, false);
  if (!nj) return block_errc::io_error;
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
  auto fail = [&](const char* step) -> Result<void> {
    std::lock_guard lock(mu_);
    // Records now go to a journal no durable checkpoint points at: stop accepting writes.
    failed_ = true;
    core::logger("cache")->error("{}: checkpoint failed at {}", lun_.container, step);
    return block_errc::io_error;
  };
  // Every page the checkpoint refers to must be on stable storage before it is.
  if (!data_->sync()) return fail("data sync");
  const std::string tmp = base + ".ckpt.tmp";
  (void)fs_->remove(tmp);
  auto f = fs_->open(tmp, true, false);
  if (!f) return fail("open");
  if (!(*f)->pwrite(0, body) || !(*f)->sync()) return fail("write");
  f->reset();
  if (!fs_->rename(tmp, base + ".ckpt") || !fs_->sync_dir()) return fail("rename");
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
    {
      std::lock_guard lock(mu_);
      clean = state_->dirty_blocks == 0 && uploads_in_flight_.load() == 0;
      if (failed_) {
        result = block_errc::io_error;
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
