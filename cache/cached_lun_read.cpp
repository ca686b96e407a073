// The read path: hits from the cache file (checked against their page CRCs), misses from
// Swift (ranged or whole-chunk GETs), read-ahead of sequential streams. Writes are in
// cached_lun.cpp, fetching and filling in cached_lun_fetch.cpp, CRC checks and repair in
// cached_lun_verify.cpp.
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/container/small_vector.hpp>
#include <cstring>

#include "cache/blocking.hpp"
#include "cache/cached_lun.hpp"

namespace swiftness::cache {

using core::block_errc;
using core::Result;
namespace asio = boost::asio;

namespace {

// Reads up to this size try the page cache on the io thread first (RWF_NOWAIT); a larger copy
// would hold the io thread longer than the hop to the pool costs.
constexpr size_t kInlineReadLimit = 64 * 1024;

}  // namespace

asio::awaitable<Result<void>> CachedLun::read(core::Lba lba, std::span<std::byte> buf) {
  const uint64_t n = buf.size() / block_size_;
  if (n == 0) co_return Result<void>{};
  if (lba + n > lun_blocks_ || buf.size() % block_size_ != 0) co_return block_errc::out_of_range;
  // Small inline buffers: a 4 KiB hit is one piece and one run and allocates nothing here.
  boost::container::small_vector<ReadPiece, 4> pieces;
  boost::container::small_vector<PageRun, 4> pinned;
  // Per block of the read: the CRC its cache page must match (issue 8), if it has one.
  boost::container::small_vector<std::optional<uint32_t>, 16> want(n);
  bool streaming = false;
  {
    std::lock_guard lock(mu_);
    // Part of a sequential stream if it starts where a recent read ended (noted when reads
    // start, so the commands of one stream in flight together see each other).
    streaming = std::find(recent_ends_.begin(), recent_ends_.end(), lba) != recent_ends_.end();
    recent_ends_[recent_next_++ % recent_ends_.size()] = lba + n;
    for (uint64_t i = 0; i < n;) {
      uint64_t chunk = (lba + i) / chunk_blocks_;
      uint32_t first = uint32_t((lba + i) % chunk_blocks_);
      uint32_t count = uint32_t(std::min<uint64_t>(n - i, chunk_blocks_ - first));
      ChunkState* c = state_->find(chunk);
      if (c) touch_locked(*c);
      const uint32_t* entries = c ? c->entries.data() : nullptr;
      const uint32_t have = c ? uint32_t(std::min<size_t>(c->entries.size(), first + count)) : 0;
      for (uint32_t k = 0; k < count;) {
        uint32_t b = first + k;
        uint32_t e = b < have ? entries[b] : kNoPage;
        size_t off = size_t(i + k) * block_size_;
        if (is_page(e)) {
          // A run of blocks on consecutive pages (what one write left) in one step: pinned,
          // their CRCs noted, one piece.
          uint32_t len = 1;
          while (b + len < have && entries[b + len] == e + len && is_page(e + len))
            ++len;
          for (uint32_t j = 0; j < len; ++j) {
            state_->pin(e + j);
            if (state_->page_crc_known(e + j)) want[i + k + j] = state_->page_crc(e + j);
          }
          pinned.push_back({e, len});
          ReadPiece* q = pieces.empty() ? nullptr : &pieces.back();
          if (q && q->kind == ReadPiece::page && q->chunk == chunk &&
              q->buf_offset + size_t(q->count) * block_size_ == off &&
              q->page_or_block + q->count == e) {
            q->count += len;
          } else {
            pieces.push_back({ReadPiece::page, e, len, off, chunk, {}});
          }
          k += len;
          continue;
        }
        ReadPiece p{};
        if (e == kZeroPage || !c || !c->object.exists()) {
          p = {ReadPiece::zero, 0, 1, off, chunk, {}};
        } else {
          p = {ReadPiece::miss, b, 1, off, chunk, c->object};
        }
        ++k;
        // Coalesce with the previous piece when contiguous in both buffer and source.
        if (!pieces.empty()) {
          ReadPiece& q = pieces.back();
          bool same = q.kind == p.kind && q.buf_offset + size_t(q.count) * block_size_ == off &&
                      q.chunk == p.chunk;
          if (same && (p.kind == ReadPiece::zero ||
                       (q.page_or_block + q.count == p.page_or_block && q.ref == p.ref))) {
            ++q.count;
            continue;
          }
        }
        pieces.push_back(p);
      }
      i += count;
    }
    // For /metrics: a block served without Swift (cached, or never written) is a hit.
    for (const ReadPiece& p : pieces)
      (p.kind == ReadPiece::miss ? counters_.read_miss_blocks : counters_.read_hit_blocks) +=
          p.count;
  }
  // Ahead of a stream as soon as a read of it arrives, not when it completes: the GETs of the
  // next chunks overlap this read's own, and the commands of a stream in flight together
  // complete out of order, which would hide that they are sequential.
  if (streaming) maybe_read_ahead(lba, n);
  Result<void> result;
  // Copies the miss pieces of (chunk, ref) out of `body`, which holds the chunk's content from
  // block `first` on; bytes past its end read as zeros (the object is shorter: the LUN grew).
  auto serve = [&](const ReadPiece& p, std::span<const std::byte> body, uint32_t first) {
    for (ReadPiece& q : pieces) {
      if (q.kind != ReadPiece::miss || q.chunk != p.chunk || !(q.ref == p.ref)) continue;
      size_t src = size_t(q.page_or_block - first) * block_size_;
      size_t len = size_t(q.count) * block_size_;
      std::byte* dst = buf.data() + q.buf_offset;
      size_t have = src < body.size() ? std::min(len, body.size() - src) : 0;
      if (have) std::memcpy(dst, body.data() + src, have);
      if (have < len) std::memset(dst + have, 0, len - have);
      q.kind = ReadPiece::zero;  // done
      q.count = 0;
    }
  };
  for (size_t k = 0; k < pieces.size() && result; ++k) {
    const ReadPiece p = pieces[k];
    if (p.kind != ReadPiece::miss) continue;
    uint32_t lo = p.page_or_block, hi = p.page_or_block + p.count;
    for (const ReadPiece& q : pieces) {
      if (q.kind != ReadPiece::miss || q.chunk != p.chunk || !(q.ref == p.ref)) continue;
      lo = std::min(lo, q.page_or_block);
      hi = std::max(hi, q.page_or_block + q.count);
    }
    // A few blocks of a cold chunk: a ranged GET of the granules that hold them (a 4 MiB GET
    // costs Swift ~4.5x the time and ~20x the bytes of a 64 KiB one, swift-on-loopback.md §5).
    // The whole chunk instead when the read is part of a stream (read-ahead wants whole
    // chunks, and the next reads need the rest), when it wants a quarter of the chunk or more
    // (the next few reads of the chunk would each pay a request), when a whole fetch is
    // already on its way, and for compressed or encrypted chunks, which open only whole.
    bool ranged = codec_.ranged_reads() && !streaming && uint64_t(hi - lo) * 4 < chunk_blocks_;
    if (ranged) {
      std::lock_guard lock(mu_);
      ranged = !fetches_.count({p.chunk, p.ref.gen});
    }
    if (ranged) {
      ++fetches_in_flight_;
      auto part = co_await get_range_verified(p.chunk, p.ref, lo, hi);
      if (!part || !*part) --fetches_in_flight_;
      if (!part) {
        result = part.error();
        break;
      }
      if (*part) {
        auto bytes = std::make_shared<const std::vector<std::byte>>(std::move((*part)->bytes));
        const uint32_t first = (*part)->first_block;
        serve(p, *bytes, first);
        // Cached in the background like a whole fetch, so the next read of it is a hit.
        asio::co_spawn(
            ex_,
            [self = shared_from_this(), chunk = p.chunk, ref = p.ref, bytes,
             first]() -> asio::awaitable<void> {
              const uint32_t end = first + uint32_t(bytes->size() / self->block_size_);
              co_await self->fill(chunk, ref, bytes, first, end);
              --self->fetches_in_flight_;
            },
            asio::detached);
        continue;
      }
    }
    // The whole chunk object, fetched once however many readers want it.
    auto content = co_await fetch_content(p.chunk, p.ref);
    if (!content) {
      result = content.error();
      break;
    }
    serve(p, **content, 0);
  }
  boost::container::small_vector<size_t, 2> unreadable;  // page pieces whose pread failed
  std::vector<ReadPiece> damaged;  // blocks of page pieces that failed their CRC, one each
  // A small read the page cache holds is served here, on the io thread: the hop to the pool and
  // back cost two thread wake-ups per command, most of a 4 KiB hit's CPU. The first piece
  // that would block, and all after it, go to the pool.
  size_t inline_done = 0;
  if (result && buf.size() <= kInlineReadLimit) {
    for (; inline_done < pieces.size(); ++inline_done) {
      const ReadPiece& p = pieces[inline_done];
      std::span<std::byte> dst(buf.data() + p.buf_offset, size_t(p.count) * block_size_);
      if (p.kind == ReadPiece::zero) {
        std::memset(dst.data(), 0, dst.size());
      } else if (p.kind == ReadPiece::page) {
        if (!data_->pread_nowait(uint64_t(p.page_or_block) * block_size_, dst)) break;
        check_piece(p, dst, want, damaged);
      }
    }
  }
  if (result && inline_done < pieces.size()) {
    result = co_await run_blocking(pool_, [&]() -> Result<void> {
      for (size_t k = inline_done; k < pieces.size(); ++k) {
        const ReadPiece& p = pieces[k];
        std::span<std::byte> dst(buf.data() + p.buf_offset, size_t(p.count) * block_size_);
        if (p.kind == ReadPiece::zero) {
          std::memset(dst.data(), 0, dst.size());
        } else if (p.kind == ReadPiece::page) {
          if (auto r = data_->pread(uint64_t(p.page_or_block) * block_size_, dst); !r) {
            std::lock_guard lock(mu_);
            (void)local_failure_locked(r.error(), "read", false);
            unreadable.push_back(k);
            continue;
          }
          check_piece(p, dst, want, damaged);  // issue 8: never serve bytes that fail it
        }
      }
      return {};
    });
  }
  for (size_t k = 0; k < unreadable.size() && result; ++k) {
    const ReadPiece piece = pieces[unreadable[k]];
    result = co_await reread_from_swift(lba, buf, piece);
  }
  for (size_t k = 0; k < damaged.size() && result; ++k) {
    const ReadPiece piece = damaged[k];
    const uint32_t crc = *want[piece.buf_offset / block_size_];
    result = co_await recover_damaged(lba, buf, piece, crc);
  }
  {
    std::lock_guard lock(mu_);
    for (const PageRun& r : pinned)
      state_->unpin(r.page, r.count);
  }
  co_return result;
}

asio::awaitable<Result<void>> CachedLun::reread_from_swift(core::Lba lba, std::span<std::byte> buf,
                                                           const ReadPiece& piece) {
  // The blocks of a page piece are contiguous in one chunk (read() coalesces only those).
  const uint32_t first = uint32_t((lba + piece.buf_offset / block_size_) % chunk_blocks_);
  ObjectRef ref;
  {
    std::lock_guard lock(mu_);
    ChunkState* c = state_->find(piece.chunk);
    bool clean = c && c->object.exists();
    for (uint32_t b = first; clean && b < first + piece.count; ++b)
      clean = !c->is_dirty(b);
    // A clean block holds what the chunk's current object holds (uploads and fills both make
    // it so); a dirty one is only here.
    if (!clean) co_return block_errc::medium_error;
    ref = c->object;
  }
  const uint64_t chunk = piece.chunk;
  auto content = co_await fetch_content(chunk, ref);
  if (!content) co_return content.error();
  const std::vector<std::byte>& body = **content;
  const size_t src = size_t(first) * block_size_;
  const size_t len = size_t(piece.count) * block_size_;
  std::byte* dst = buf.data() + piece.buf_offset;
  const size_t have = src < body.size() ? std::min(len, body.size() - src) : 0;
  if (have) std::memcpy(dst, body.data() + src, have);
  if (have < len) std::memset(dst + have, 0, len - have);
  std::lock_guard lock(mu_);
  counters_.swift_read_fallbacks += piece.count;
  co_return Result<void>{};
}

void CachedLun::maybe_read_ahead(core::Lba lba, uint64_t blocks) {
  std::vector<std::pair<uint64_t, ObjectRef>> wanted;
  {
    std::lock_guard lock(mu_);
    if (cfg_.read_ahead_chunks == 0 || stopping_) return;
    const uint64_t next = (lba + blocks - 1) / chunk_blocks_ + 1;  // after the last one read
    for (uint64_t c = next; c < next + cfg_.read_ahead_chunks && c < state_->chunk_count(); ++c) {
      ChunkState* cs = state_->find(c);
      if (!cs || !cs->object.exists() || cs->page_count > 0) continue;
      if (fetches_.count({c, cs->object.gen})) continue;
      wanted.emplace_back(c, cs->object);
    }
  }
  // Started here and left to run: nobody polls for them (a reader that wants one of these
  // chunks finds its fetch and waits for that).
  for (auto& [c, ref] : wanted) {
    if (fetches_in_flight_.load() >= int(cfg_.fetch_concurrency)) break;
    (void)start_fetch(c, ref);
  }
}

}  // namespace swiftness::cache
