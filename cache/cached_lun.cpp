// The data path: write, flush, unmap. Reads are in cached_lun_read.cpp, Swift-side work in
// cached_lun_flush.cpp, attach and replay in cached_lun_open.cpp.
#include "cache/cached_lun.hpp"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <cstdlib>
#include <cstring>

#include "cache/blocking.hpp"
#include "core/crc32c.hpp"
#include "core/log.hpp"

namespace swiftness::cache {

using core::block_errc;
using core::Result;
namespace asio = boost::asio;

namespace {

// A batch's data writes of neighbouring pages are joined into one pwrite up to this size.
constexpr size_t kMaxDataWrite = 1 << 20;

struct AlignedBuffer {
  explicit AlignedBuffer(size_t n)
      : size(n),
        data(static_cast<std::byte*>(std::aligned_alloc(
            kDirectAlignment, (n + kDirectAlignment - 1) / kDirectAlignment * kDirectAlignment))) {}
  ~AlignedBuffer() { std::free(data); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  size_t size;
  std::byte* data;
};

// The pages of blocks [offset, offset + count) of a write that got `runs`.
std::vector<PageRun> slice_runs(const std::vector<PageRun>& runs, uint32_t offset, uint32_t count) {
  std::vector<PageRun> out;
  uint32_t pos = 0;
  for (const PageRun& r : runs) {
    uint32_t lo = std::max(pos, offset), hi = std::min(pos + r.count, offset + count);
    if (lo < hi) out.push_back({r.page + (lo - pos), hi - lo});
    pos += r.count;
    if (pos >= offset + count) break;
  }
  return out;
}

// What an initiator is told when the cache file system fails (issue 8, cache-device faults).
// SBC-3 thin provisioning: a LU that cannot allocate the resources for a write reports DATA
// PROTECT, SPACE ALLOCATION FAILED WRITE PROTECT; a full cache file system is exactly that, and
// the LU stays write-protected (reads keep working) until there is room again, which is also how
// initiators read it (VMware ESXi: THINPROV_NOSPACE, the LUN is read-only). A read-only file
// system is DATA PROTECT, WRITE PROTECTED. Anything else (EIO) is the medium failing: MEDIUM
// ERROR, WRITE ERROR or UNRECOVERED READ ERROR (SPC-4 Annex D).
block_errc local_errc(std::error_code ec) {
  if (ec == std::errc::no_space_on_device || ec.value() == EDQUOT) return block_errc::no_space;
  if (ec == std::errc::read_only_file_system) return block_errc::write_protected;
  return block_errc::medium_error;
}

}  // namespace

CachedLun::CachedLun(asio::any_io_executor ex, asio::any_io_executor pool,
                     std::shared_ptr<core::ObjectStore> store, LunConfig lun, CacheConfig cache,
                     CachedLunOptions options)
    : ex_(std::move(ex)),
      pool_(std::move(pool)),
      store_(std::move(store)),
      lun_(std::move(lun)),
      cfg_(std::move(cache)),
      fs_(options.fs ? options.fs : make_posix_file_system(cfg_.dir)),
      hooks_(options.hooks ? options.hooks : std::make_shared<Hooks>()),
      codec_(lun_.compression, lun_.compression_level, options.cipher) {
  wce_.store(cfg_.write_cache_enabled);
  batcher_ = std::make_unique<WriteBatcher>(
      pool_, [this](std::span<BatchedWrite* const> writes) { commit_writes(writes); });
  recent_ends_.fill(~core::Lba{0});
}

CachedLun::~CachedLun() = default;

std::string CachedLun::object_name(uint64_t chunk, const ObjectRef& ref) const {
  char b[64];
  std::snprintf(b, sizeof b, "chunk/%012llx/%08x-%016llx", (unsigned long long)chunk, ref.epoch,
                (unsigned long long)ref.gen);
  return b;
}

core::BlockGeometry CachedLun::geometry() const {
  core::BlockGeometry g;
  g.block_size = block_size_;
  g.block_count = lun_blocks_;
  g.optimal_transfer_blocks = chunk_blocks_;
  g.thin = true;
  g.non_rotational = true;
  g.unmap_granularity_blocks = chunk_blocks_;
  g.max_unmap_blocks = 0xFFFFFFFFu;
  g.max_unmap_descriptors = 256;
  return g;
}

CacheStats CachedLun::stats() const {
  std::lock_guard lock(mu_);
  CacheStats s = counters_;
  s.dirty_blocks = state_->dirty_blocks;
  s.used_pages = state_->used_pages;
  s.free_pages = state_->free_pages();
  s.total_pages = state_->page_total();
  s.quarantined_pages = state_->quarantined();
  s.garbage = state_->garbage.size();
  s.index_seq = state_->index_seq;
  s.dirty_chunks = state_->dirty_chunks.size();
  s.uploads_in_flight = uint64_t(std::max(0, uploads_in_flight_.load()));
  s.writes_stopped = failed_;
  s.damaged_dirty_blocks = state_->damaged_pages();
  const WriteBatcher::Counts b = batcher_->counts();
  s.write_batches = b.batches;
  s.batched_writes = b.writes;
  for (const auto& [id, c] : state_->chunks)
    s.chunk_objects += c.object.exists();
  return s;
}

asio::awaitable<void> CachedLun::sleep(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(asio::use_awaitable);
}

// ---- write ----

asio::awaitable<Result<void>> CachedLun::wait_dirty_room(uint64_t blocks, Deadline deadline) {
  // Backpressure (issue 5): above the high watermark new writes wait for the flusher, bounded
  // well under the initiators' command timeouts; after the bound they proceed while pages last.
  const uint64_t high = uint64_t(cfg_.dirty_high_watermark * pages_);
  for (;;) {
    // With Swift unreachable the flusher cannot make room: absorb writes while pages last
    // instead of making each one wait out the bound.
    if (!store_healthy_.load()) co_return Result<void>{};
    {
      std::lock_guard lock(mu_);
      if (state_->dirty_blocks + blocks <= high) co_return Result<void>{};
    }
    if (std::chrono::steady_clock::now() >= deadline) co_return Result<void>{};
    kick_flusher_ = true;
    co_await sleep(std::chrono::milliseconds(5));
  }
}

asio::awaitable<Result<std::vector<PageRun>>> CachedLun::allocate_pages(uint32_t n,
                                                                        Deadline deadline) {
  if (n > pages_) co_return block_errc::no_space;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (failed_) co_return failed_errc_;
      if (auto runs = state_->allocate(n)) co_return std::move(*runs);
    }
    // Out of free pages: evict clean data and checkpoint to release quarantined pages; if
    // everything is dirty and Swift is away, the caller gets BUSY after the bound.
    kick_maintenance_ = true;
    kick_flusher_ = true;
    if (std::chrono::steady_clock::now() >= deadline) co_return block_errc::busy;
    co_await sleep(std::chrono::milliseconds(2));
  }
}

Result<void> CachedLun::append_record_locked(Record& rec) {
  rec.seq = next_seq_;
  auto bytes = encode_record(rec);
  if (auto r = journal_->pwrite(journal_off_, bytes); !r) {
    // The journal may now hold a torn record: nothing after it would replay. Stop writing.
    return local_failure_locked(r.error(), "journal write", true);
  }
  ++next_seq_;
  journal_off_ += bytes.size();
  return {};
}

Result<void> CachedLun::append_records_locked(std::vector<Record>& recs) {
  if (recs.size() == 1) return append_record_locked(recs[0]);
  std::vector<std::byte> bytes;
  for (size_t i = 0; i < recs.size(); ++i) {
    recs[i].seq = next_seq_ + i;
    auto one = encode_record(recs[i]);
    bytes.insert(bytes.end(), one.begin(), one.end());
  }
  if (auto r = journal_->pwrite(journal_off_, bytes); !r) {
    // As for one record: the journal may now end in a torn one. Replay keeps the intact
    // records before it, none of which was acknowledged; nothing after it would replay.
    return local_failure_locked(r.error(), "journal write", true);
  }
  next_seq_ += recs.size();
  journal_off_ += bytes.size();
  return {};
}

std::vector<std::error_code> CachedLun::write_pages(std::span<BatchedWrite* const> writes,
                                                    std::vector<std::vector<uint32_t>>& crcs) {
  // The pieces of all the writes, by page: next-fit allocation gives commands that arrive
  // together neighbouring pages, so a batch of 4 KiB writes is mostly one pwrite.
  struct Piece {
    uint32_t page, count;
    size_t write;
    uint32_t first_block;  // within its write
  };
  std::vector<Piece> pieces;
  crcs.assign(writes.size(), {});
  for (size_t k = 0; k < writes.size(); ++k) {
    crcs[k].resize(writes[k]->buf.size() / block_size_);
    uint32_t block = 0;
    for (const PageRun& r : writes[k]->runs) {
      pieces.push_back({r.page, r.count, k, block});
      block += r.count;
    }
  }
  std::sort(pieces.begin(), pieces.end(),
            [](const Piece& a, const Piece& b) { return a.page < b.page; });
  const uint32_t max_pages = std::max<uint32_t>(1, uint32_t(kMaxDataWrite / block_size_));
  std::vector<std::error_code> failed(writes.size());
  for (size_t i = 0; i < pieces.size();) {
    size_t j = i + 1;
    uint32_t end = pieces[i].page + pieces[i].count;
    while (j < pieces.size() && pieces[j].page == end &&
           end + pieces[j].count - pieces[i].page <= max_pages) {
      end += pieces[j].count;
      ++j;
    }
    // O_DIRECT wants an aligned buffer; the initiator's buffer has no such promise.
    AlignedBuffer tmp(size_t(end - pieces[i].page) * block_size_);
    for (size_t q = i; q < j; ++q) {
      const Piece& p = pieces[q];
      std::byte* dst = tmp.data + size_t(p.page - pieces[i].page) * block_size_;
      std::memcpy(dst, writes[p.write]->buf.data() + size_t(p.first_block) * block_size_,
                  size_t(p.count) * block_size_);
      for (uint32_t b = 0; b < p.count; ++b) {
        crcs[p.write][p.first_block + b] =
            core::crc32c(std::span<const std::byte>(dst + size_t(b) * block_size_, block_size_));
      }
    }
    auto wr = data_->pwrite(uint64_t(pieces[i].page) * block_size_,
                            std::span<const std::byte>(tmp.data, tmp.size));
    // Fails exactly the writes that had pages in it.
    if (!wr) {
      for (size_t q = i; q < j; ++q)
        failed[pieces[q].write] = wr.error();
    }
    i = j;
  }
  return failed;
}

void CachedLun::commit_writes(std::span<BatchedWrite* const> writes) {
  // Data first, every write of the batch: a record must never reach the journal before the
  // pages it points to are written. A write whose data failed gets its error alone.
  std::vector<std::vector<uint32_t>> crcs;
  const std::vector<std::error_code> failed = write_pages(writes, crcs);
  std::vector<Record> recs;
  std::vector<BatchedWrite*> committing;
  recs.reserve(writes.size());
  committing.reserve(writes.size());
  for (size_t k = 0; k < writes.size(); ++k) {
    BatchedWrite& w = *writes[k];
    if (failed[k]) {
      std::lock_guard lock(mu_);
      state_->free_unreferenced(w.runs);
      w.result = local_failure_locked(failed[k], "data write", false);
      continue;
    }
    const uint32_t n = uint32_t(w.buf.size() / block_size_);
    Record rec;
    rec.type = RecordType::write;
    for (uint32_t i = 0; i < n;) {
      uint64_t chunk = (w.lba + i) / chunk_blocks_;
      uint32_t first = uint32_t((w.lba + i) % chunk_blocks_);
      uint32_t count = std::min<uint32_t>(n - i, chunk_blocks_ - first);
      rec.segments.push_back({chunk, first, count, slice_runs(w.runs, i, count)});
      i += count;
    }
    rec.page_crcs = std::move(crcs[k]);  // replay tells a damaged page from a torn write by them
    recs.push_back(std::move(rec));
    committing.push_back(&w);
  }
  if (committing.empty()) return;
  std::lock_guard lock(mu_);
  if (failed_) {
    for (BatchedWrite* w : committing) {
      state_->free_unreferenced(w->runs);
      w->result = failed_errc_;
    }
    return;
  }
  for (size_t k = 0; k < committing.size(); ++k) {
    const BatchedWrite& w = *committing[k];
    const Record& rec = recs[k];
    // The pages' CRCs before any record refers to them: reads and uploads check them.
    uint32_t c = 0;
    for (const PageRun& r : w.runs) {
      for (uint32_t i = 0; i < r.count; ++i)
        state_->set_page_crc(r.page + i, rec.page_crcs[c++]);
    }
    // One record per command: after a crash it is all there or not at all, even across a
    // chunk boundary. Applied in arrival order, so of two overlapping writes in one batch the
    // later one wins, in the state and at replay (records keep the same order).
    for (const Segment& s : rec.segments) {
      state_->apply_write(s);
      touch_locked(state_->chunk(s.chunk));
    }
    data_since_checkpoint_ += w.buf.size();
  }
  if (data_since_checkpoint_ > cfg_.checkpoint_data_bytes ||
      journal_off_ > cfg_.checkpoint_journal_bytes) {
    kick_maintenance_ = true;
  }
  const Result<void> appended = append_records_locked(recs);
  for (BatchedWrite* w : committing)
    w->result = appended;
}

asio::awaitable<Result<void>> CachedLun::write(core::Lba lba, std::span<const std::byte> buf,
                                               core::WriteFlags flags) {
  const uint64_t n = buf.size() / block_size_;
  if (n == 0) co_return Result<void>{};
  if (lba + n > lun_blocks_ || buf.size() % block_size_ != 0) co_return block_errc::out_of_range;
  // One bound for the whole wait: waiting out write_wait_limit for dirty room and then again for
  // free pages (Swift slow but not failing) would take a write past the initiators' 30 s.
  const Deadline deadline = std::chrono::steady_clock::now() + cfg_.write_wait_limit;
  if (auto r = co_await wait_dirty_room(n, deadline); !r) co_return r;
  const auto pages = uint32_t(n);
  auto runs = co_await allocate_pages(pages, deadline);
  if (!runs) co_return runs.error();
  BatchedWrite w;
  w.lba = lba;
  w.buf = buf;
  w.runs = std::move(*runs);
  co_await batcher_->submit(w);
  if (!w.result) co_return w.result;
  if (flags.fua || !wce_.load()) co_return co_await make_durable();
  co_return Result<void>{};
}

Result<void> CachedLun::make_durable_blocking(std::optional<uint64_t> upto_seq) {
  // SBC-3 SYNCHRONIZE CACHE / FUA: the data pages first, then the journal that points at them;
  // a record on stable storage never refers to data that is not.
  uint64_t target = 0;
  {
    std::lock_guard lock(mu_);
    if (failed_) return failed_errc_;
    target = upto_seq ? *upto_seq : next_seq_ - 1;  // every record committed before this call
  }
  std::lock_guard dlock(durability_mu_);
  // Group commit: a sync round that started after our records were written covers them.
  if (durable_seq_ >= target) return {};
  std::shared_ptr<File> journal;
  uint64_t upto = 0;
  {
    std::lock_guard lock(mu_);
    if (failed_) return failed_errc_;
    journal = journal_;
    upto = next_seq_ - 1;  // data of every committed record was written before its commit
  }
  auto synced = data_->sync();
  uint64_t covered = upto;
  if (synced) {
    // Says so in the journal, in the same fdatasync: a record up to `upto` whose pages fail
    // their check at replay was damaged after it was made durable (MEDIUM ERROR until
    // rewritten), not torn by a power loss before (dropped whole).
    std::lock_guard lock(mu_);
    if (failed_) return failed_errc_;
    const bool alone = next_seq_ - 1 == upto;  // no record came in since `upto` was taken
    Record rec;
    rec.type = RecordType::data_synced;
    rec.data_synced = upto;
    if (auto r = append_record_locked(rec); !r) return r;  // it stopped writes and said why
    // Then this record is covered as well, and a SYNCHRONIZE CACHE with nothing new is free.
    if (alone) covered = next_seq_ - 1;
  }
  if (synced) synced = journal->sync();
  if (!synced) {
    // After a failed fdatasync the kernel may have dropped the dirty pages, and the next one
    // reports success: nothing written so far can be called durable. Stop writing.
    std::lock_guard lock(mu_);
    return local_failure_locked(synced.error(), "fdatasync", true);
  }
  durable_seq_ = covered;
  return {};
}

asio::awaitable<Result<void>> CachedLun::make_durable() {
  co_return co_await run_blocking(pool_, [this]() { return make_durable_blocking(); });
}

asio::awaitable<Result<void>> CachedLun::flush(core::LbaRange) {
  // Durable means on the local SSD journal, not in Swift (what-users-complain-about.md #2);
  // drain() is the separate "in Swift" operation.
  co_return co_await make_durable();
}

std::error_code CachedLun::local_failure_locked(std::error_code ec, std::string_view what,
                                                bool stop) {
  const std::error_code told = local_errc(ec);
  ++counters_.local_errors;
  const bool first_stop = stop && !failed_;
  if (first_stop) {
    failed_ = true;
    failed_errc_ = told;
    start_resume_probe_locked();
  }
  // Every command can meet the failure: rate-limited, except the one that stops writes.
  uint64_t suppressed = 0;
  if (first_stop) {
    core::logger("cache")->error(
        "{}: cache file {} failed: {}; writes are refused ({}) until a probe finds the cache "
        "file system working again, reads go on",
        lun_.container, what, ec.message(), told.message());
  } else if (local_log_limit_.allow(suppressed)) {
    if (suppressed) {
      core::logger("cache")->error("{}: cache file {} failed: {} ({} similar messages suppressed)",
                                   lun_.container, what, ec.message(), suppressed);
    } else {
      core::logger("cache")->error("{}: cache file {} failed: {}", lun_.container, what,
                                   ec.message());
    }
  }
  return told;
}

// ---- unmap ----

asio::awaitable<Result<void>> CachedLun::unmap(std::span<const core::LbaRange> ranges) {
  for (const auto& r : ranges) {
    if (r.lba + r.count > lun_blocks_) co_return block_errc::out_of_range;
  }
  std::vector<core::LbaRange> copy(ranges.begin(), ranges.end());
  auto r = co_await run_blocking(pool_, [this, &copy]() -> Result<void> {
    std::lock_guard lock(mu_);
    if (failed_) return failed_errc_;
    // SBC-3 UNMAP as a metadata operation: zeros in the index, whole-chunk objects deleted
    // lazily in bulk by the garbage collector (no DELETE per command).
    Record rec;
    rec.type = RecordType::unmap;
    rec.needed_index_seq = index_seq_assigned_ + 1;
    for (const auto& range : copy) {
      for (uint64_t i = 0; i < range.count;) {
        uint64_t chunk = (range.lba + i) / chunk_blocks_;
        uint32_t first = uint32_t((range.lba + i) % chunk_blocks_);
        uint32_t count = uint32_t(std::min<uint64_t>(range.count - i, chunk_blocks_ - first));
        rec.segments.push_back({chunk, first, count, {}});
        state_->apply_unmap(chunk, first, count, rec.needed_index_seq);
        i += count;
      }
    }
    if (rec.segments.empty()) return {};
    index_dirty_ = true;
    return append_record_locked(rec);
  });
  if (!r) co_return r;
  if (!wce_.load()) co_return co_await make_durable();
  co_return Result<void>{};
}

asio::awaitable<Result<core::LbaStatus>> CachedLun::lba_status(core::Lba lba) {
  if (lba >= lun_blocks_) co_return block_errc::out_of_range;
  std::lock_guard lock(mu_);
  // Per chunk: mapped if it has an object or any cached/dirty block (a conservative answer).
  auto mapped_chunk = [&](uint64_t c) {
    ChunkState* cs = state_->find(c);
    if (!cs) return false;
    if (cs->object.exists() || cs->page_count > 0) return true;
    for (uint32_t e : cs->entries) {
      if (e != kNoPage && e != kZeroPage) return true;
    }
    return false;
  };
  uint64_t c = lba / chunk_blocks_;
  bool m = mapped_chunk(c);
  uint64_t end = (c + 1) * chunk_blocks_;
  while (end < lun_blocks_ && mapped_chunk(end / chunk_blocks_) == m)
    end += chunk_blocks_;
  end = std::min<uint64_t>(end, lun_blocks_);
  co_return core::LbaStatus{{lba, end - lba}, m};
}

}  // namespace swiftness::cache
