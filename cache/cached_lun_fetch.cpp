// Reading chunk objects from Swift: whole-object fetches shared by concurrent readers
// (misses, read-ahead, the base of a partial upload) and filling the cache with them.
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>

#include "cache/blocking.hpp"
#include "cache/cached_lun.hpp"
#include "cache/done_signal.hpp"
#include "core/crc32c.hpp"
#include "core/log.hpp"

namespace swiftness::cache {

using core::block_errc;
using core::object_errc;
using core::Result;
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

struct CachedLun::FetchSlot {
  explicit FetchSlot(asio::any_io_executor ex) : landed(std::move(ex)) {}
  bool done = false;  // under mu_, with result
  Result<std::shared_ptr<const std::vector<std::byte>>> result = block_errc::aborted;
  DoneSignal landed;  // set once done and result are
};

namespace {

// Runs `op` (a coroutine) on `ex` on its own and waits for its result until `deadline`; after
// that `on_timeout`. An initiator's READ waits here, so a Swift request that never answers
// (or answers too slowly, retried again and again) cannot hold the command past the deadline
// (issue 8); `op` carries on in the background and its result is dropped.
template <class T, class Op>
asio::awaitable<T> within(asio::any_io_executor ex, Clock::time_point deadline, Op op,
                          T on_timeout) {
  struct Pending {
    explicit Pending(asio::any_io_executor e) : landed(std::move(e)) {}
    std::mutex mu;
    std::optional<T> result;
    DoneSignal landed;
  };
  auto pending = std::make_shared<Pending>(ex);
  asio::co_spawn(
      ex,
      [pending, op = std::move(op)]() mutable -> asio::awaitable<void> {
        auto running = op();
        T r = co_await std::move(running);
        {
          std::lock_guard lock(pending->mu);
          pending->result.emplace(std::move(r));
        }
        pending->landed.set();
      },
      asio::detached);
  auto waiting = pending->landed.wait(deadline);
  if (!co_await std::move(waiting)) co_return on_timeout;
  std::lock_guard lock(pending->mu);
  co_return std::move(*pending->result);
}

// The fill's staging buffer, one per pool thread and kept: a fresh multi-megabyte allocation
// per chunk would come with fresh pages to fault in each time. Chunks above 16 MiB (rare)
// reallocate it.
std::byte* fill_buffer(size_t bytes) {
  struct Buffer {
    std::byte* p = nullptr;
    size_t size = 0;
    ~Buffer() { std::free(p); }
  };
  thread_local Buffer b;
  const size_t want = (bytes + kDirectAlignment - 1) / kDirectAlignment * kDirectAlignment;
  if (b.size < want || (b.size > (16u << 20) && want <= (16u << 20))) {
    std::free(b.p);
    b.p = static_cast<std::byte*>(std::aligned_alloc(kDirectAlignment, want));
    b.size = want;
  }
  return b.p;
}

}  // namespace

// ---- reading chunk objects ----

asio::awaitable<Result<std::vector<std::byte>>> CachedLun::get_verified(uint64_t chunk,
                                                                        ObjectRef ref) {
  const core::ObjectKey key{lun_.container, object_name(chunk, ref)};
  // No MD5 pass over the body in the Swift client: decode() checks the CRC32C of every byte
  // against our index, which catches whatever the ETag would (and a mismatch is retried below).
  core::GetOptions opts;
  opts.verify_etag = false;
  std::error_code last = block_errc::unavailable;
  auto backoff = std::chrono::milliseconds(20);
  // No new attempt once a reader would have given up (the reader's own bound is in
  // fetch_content): each attempt is already up to SwiftStore's retries with their timeouts.
  const auto deadline = Clock::now() + cfg_.read_wait_limit;
  // Names are immutable, so a replica can only lag by not having the object yet (404) or serve
  // damaged bytes: retry both, then report. Never serve bytes that fail their checksums.
  for (int attempt = 0; attempt < 6; ++attempt) {
    if (attempt > 0) {
      if (Clock::now() + backoff >= deadline) break;
      co_await sleep(backoff);
      backoff *= 2;
    }
    auto got = co_await store_->get(key, opts);
    if (got) {
      const size_t bytes = got->body.size();
      auto content = codec_.decode(chunk, ref.gen, std::move(*got), ref.crc);
      if (content) {
        std::lock_guard lock(mu_);
        ++counters_.fetches;
        counters_.fetched_bytes += bytes;
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
    // An object our index refers to is gone (or its bytes failed a check in the client): the
    // data is lost (MEDIUM ERROR); anything else means Swift is not answering (LOGICAL UNIT
    // COMMUNICATION FAILURE via unavailable).
    last = got.error() == object_errc::not_found || got.error() == object_errc::checksum_mismatch
               ? std::error_code(block_errc::medium_error)
               : std::error_code(block_errc::unavailable);
  }
  co_return last;
}

asio::awaitable<Result<std::optional<CachedLun::RangeBytes>>> CachedLun::get_range_verified(
    uint64_t chunk, ObjectRef ref, uint32_t first_block, uint32_t end_block) {
  // The granule the object was written with follows from its size, which is the chunk's size
  // unless the LUN grew since; the metadata says, and any disagreement reads the object whole.
  const uint64_t bs = block_size_;
  uint64_t content_size = 0;
  {
    std::lock_guard lock(mu_);
    content_size = uint64_t(state_->blocks_in_chunk(chunk)) * bs;
  }
  const uint64_t g = range_granule(content_size);
  const uint64_t lo = uint64_t(first_block) * bs / g * g;
  const uint64_t hi = std::min(content_size, (uint64_t(end_block) * bs + g - 1) / g * g);
  core::GetOptions opts;
  opts.range = core::ByteRange{lo, hi - lo};
  const core::ObjectKey key{lun_.container, object_name(chunk, ref)};
  const auto deadline = Clock::now() + cfg_.read_wait_limit;
  using Out = Result<std::optional<RangeBytes>>;
  auto attempts = [self = shared_from_this(), key, opts, ref, g, lo, hi, bs, content_size,
                   deadline]() -> asio::awaitable<Out> {
    std::error_code last = block_errc::unavailable;
    auto backoff = std::chrono::milliseconds(20);
    for (int attempt = 0; attempt < 6; ++attempt) {
      if (attempt > 0) {
        if (Clock::now() + backoff >= deadline) break;
        co_await self->sleep(backoff);
        backoff *= 2;
      }
      auto got = co_await self->store_->get(key, opts);
      if (!got) {
        // 416: the object is shorter than we thought (the LUN grew): read it whole.
        if (got.error() == object_errc::range_not_satisfiable) co_return std::nullopt;
        last = got.error() == object_errc::not_found ? std::error_code(block_errc::medium_error)
                                                     : std::error_code(block_errc::unavailable);
        continue;
      }
      auto table = parse_range_table(got->info.metadata, ref.crc);
      if (!table || table->granule != g || table->size != content_size) co_return std::nullopt;
      if (auto v = verify_granules(*table, lo / g, got->body); v) {
        std::lock_guard lock(self->mu_);
        ++self->counters_.fetches;
        ++self->counters_.ranged_fetches;
        self->counters_.fetched_bytes += got->body.size();
        co_return RangeBytes{uint32_t(lo / bs), std::move(got->body)};
      }
      {
        std::lock_guard lock(self->mu_);
        ++self->counters_.checksum_failures;
      }
      core::logger("cache")->warn("{}/{} bytes {}-{}: checksum mismatch (attempt {})",
                                  self->lun_.container, key.name, lo, hi - 1, attempt + 1);
      last = block_errc::medium_error;
    }
    co_return last;
  };
  // The initiator waits for this one (a cold read): bounded however long Swift takes.
  Out timed_out = block_errc::unavailable;
  auto waiting = within(ex_, deadline, std::move(attempts), std::move(timed_out));
  co_return co_await std::move(waiting);
}

std::shared_ptr<CachedLun::FetchSlot> CachedLun::start_fetch(uint64_t chunk, ObjectRef ref) {
  std::shared_ptr<FetchSlot> slot;
  const auto key = std::make_pair(chunk, ref.gen);
  {
    std::lock_guard lock(mu_);
    auto it = fetches_.find(key);
    if (it != fetches_.end()) return it->second;
    slot = std::make_shared<FetchSlot>(ex_);
    fetches_[key] = slot;
  }
  // The GET runs on its own, so every reader, the first one included, waits at most until its
  // deadline (NOT READY after that) however long a hung Swift request takes (issue 8); the
  // fetch still fills the cache when it completes.
  ++fetches_in_flight_;
  asio::co_spawn(
      ex_,
      [self = shared_from_this(), chunk, ref, key, slot]() -> asio::awaitable<void> {
        auto got = co_await self->get_verified(chunk, ref);
        co_await self->hooks_->run(kHookFetchAfterGet);
        Result<std::shared_ptr<const std::vector<std::byte>>> out = block_errc::aborted;
        if (got) {
          out = std::make_shared<const std::vector<std::byte>>(std::move(*got));
        } else {
          out = got.error();
        }
        {
          std::lock_guard lock(self->mu_);
          slot->done = true;
          slot->result = out;
        }
        slot->landed.set();  // its waiters resume now, before the fill
        // The slot stays until the fill is done so a second reader finds the bytes instead
        // of fetching them again.
        if (out) co_await self->fill(chunk, ref, *out, 0, UINT32_MAX);
        {
          std::lock_guard lock(self->mu_);
          self->fetches_.erase(key);
        }
        --self->fetches_in_flight_;
      },
      asio::detached);
  return slot;
}

asio::awaitable<Result<std::shared_ptr<const std::vector<std::byte>>>> CachedLun::fetch_content(
    uint64_t chunk, ObjectRef ref) {
  const auto deadline = Clock::now() + cfg_.read_wait_limit;
  std::shared_ptr<FetchSlot> slot = start_fetch(chunk, ref);
  auto waiting = slot->landed.wait(deadline);
  if (!co_await std::move(waiting)) co_return block_errc::unavailable;
  std::lock_guard lock(mu_);
  co_return slot->result;
}

asio::awaitable<void> CachedLun::fill(uint64_t chunk, ObjectRef ref,
                                      std::shared_ptr<const std::vector<std::byte>> content,
                                      uint32_t first_block, uint32_t end_block) {
  if (stopping_) co_return;
  std::vector<uint32_t> blocks;
  std::vector<PageRun> runs;
  {
    std::lock_guard lock(mu_);
    if (failed_) co_return;
    ChunkState* c = state_->find(chunk);
    if (!c || !(c->object == ref)) co_return;
    // A whole object fills every block (zeros past its end: the LUN grew); a range its own.
    const uint32_t end = std::min(end_block, state_->blocks_in_chunk(chunk));
    for (uint32_t b = first_block; b < end; ++b) {
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
  co_await run_blocking(pool_, [this, chunk, ref, first_block, &blocks, &runs, &content]() -> bool {
    const size_t bs = block_size_;
    // Staged in an aligned buffer and written around the page cache (O_DIRECT where the cache
    // file allows it): putting every fetched byte in the page cache cost half the daemon's CPU
    // in a cold sequential read (new page-cache pages are expensive, and on this project's VM
    // very), and the reader that wanted them has them from the fetch already.
    std::byte* buf = fill_buffer(blocks.size() * bs);
    std::vector<uint32_t> crcs(blocks.size());
    for (size_t i = 0; i < blocks.size(); ++i) {
      size_t src = size_t(blocks[i] - first_block) * bs;
      size_t have = src < content->size() ? std::min(bs, content->size() - src) : 0;
      if (have) std::memcpy(buf + i * bs, content->data() + src, have);
      if (have < bs) std::memset(buf + i * bs + have, 0, bs - have);
      crcs[i] = core::crc32c(std::span<const std::byte>(buf + i * bs, bs));
    }
    std::vector<uint32_t> pages;
    size_t off = 0;
    bool ok = true;
    for (const PageRun& r : runs) {
      ok =
          ok && data_->pwrite_uncached(uint64_t(r.page) * bs,
                                       std::span<const std::byte>(buf + off, size_t(r.count) * bs));
      for (uint32_t i = 0; i < r.count; ++i)
        pages.push_back(r.page + i);
      off += size_t(r.count) * bs;
    }
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
      state_->set_page_crc(pages[i], crcs[i]);  // reads check it from now on
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

}  // namespace swiftness::cache
