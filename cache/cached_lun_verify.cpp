// Page checksums (issue 8, corruption): every cached page has a CRC32C, set when its bytes are
// written; reads and uploads check it. A clean page that fails is rewritten from the chunk's
// object in Swift, which holds the same bytes; a dirty one exists nowhere else, so its block
// reads as MEDIUM ERROR and is never uploaded until the initiator writes it again.
#include <cstdlib>
#include <cstring>

#include "cache/blocking.hpp"
#include "cache/cached_lun.hpp"
#include "core/crc32c.hpp"
#include "core/log.hpp"

namespace swiftness::cache {

using core::block_errc;
using core::Result;
namespace asio = boost::asio;

std::optional<uint32_t> CachedLun::expected_crc_locked(uint32_t page) const {
  if (!state_->page_crc_known(page)) return std::nullopt;
  return state_->page_crc(page);
}

void CachedLun::check_piece(const ReadPiece& p, std::span<const std::byte> dst,
                            std::span<const std::optional<uint32_t>> want,
                            std::vector<ReadPiece>& damaged) const {
  const size_t first = p.buf_offset / block_size_;
  for (uint32_t j = 0; j < p.count; ++j) {
    const std::optional<uint32_t>& w = want[first + j];
    if (!w || core::crc32c(dst.subspan(size_t(j) * block_size_, block_size_)) == *w) continue;
    damaged.push_back({ReadPiece::page,
                       p.page_or_block + j,
                       1,
                       p.buf_offset + size_t(j) * block_size_,
                       p.chunk,
                       {}});
  }
}

void CachedLun::note_bad_page_locked(uint64_t chunk, uint32_t block, uint32_t page,
                                     std::string_view where) {
  ++counters_.page_crc_failures;
  ChunkState* c = state_->find(chunk);
  const bool dirty =
      c && block < c->entries.size() && c->entries[block] == page && c->is_dirty(block);
  if (dirty) state_->mark_damaged(chunk, page);
  // Rate-limited: a failed writeback can lose many pages at once (the gauge has the count).
  uint64_t suppressed = 0;
  if (!crc_log_limit_.allow(suppressed)) return;
  const uint64_t lba = chunk * chunk_blocks_ + block;
  if (dirty) {
    core::logger("cache")->error(
        "{}: LBA {} (cache page {}) fails its CRC32C on {}: a dirty block, its only copy is "
        "damaged; reads of it get MEDIUM ERROR and it is not uploaded until it is written "
        "again ({} damaged dirty blocks; {} similar messages suppressed)",
        lun_.container, lba, page, where, state_->damaged_pages(), suppressed);
  } else {
    core::logger("cache")->error(
        "{}: LBA {} (cache page {}) fails its CRC32C on {}: a clean block, Swift's copy is "
        "used instead ({} similar messages suppressed)",
        lun_.container, lba, page, where, suppressed);
  }
}

asio::awaitable<Result<void>> CachedLun::recover_damaged(core::Lba lba, std::span<std::byte> buf,
                                                         const ReadPiece& piece,
                                                         uint32_t want_crc) {
  const uint32_t block = uint32_t((lba + piece.buf_offset / block_size_) % chunk_blocks_);
  const uint32_t page = piece.page_or_block;
  {
    std::lock_guard lock(mu_);
    note_bad_page_locked(piece.chunk, block, page, "read");
    ChunkState* c = state_->find(piece.chunk);
    // Only a clean block still held by this page can be repaired: its object has the bytes.
    const bool clean = c && c->object.exists() && block < c->entries.size() &&
                       c->entries[block] == page && !c->is_dirty(block);
    if (!clean) co_return block_errc::medium_error;
  }
  if (auto r = co_await reread_from_swift(lba, buf, piece); !r) co_return r;
  const std::span<const std::byte> good(buf.data() + piece.buf_offset, block_size_);
  // The object's block (checked against the object's own CRC) must also be what the page held
  // when it was filled; if not, serve it but leave the page alone.
  if (core::crc32c(good) != want_crc) co_return Result<void>{};
  const size_t bs = block_size_;
  const bool rewritten = co_await run_blocking(pool_, [this, good, page, bs]() {
    // O_DIRECT wants an aligned buffer. The page is pinned by this read, so it is still the
    // block's page or unreferenced; either way the right bytes may go back into it.
    auto* tmp = static_cast<std::byte*>(std::aligned_alloc(
        kDirectAlignment, (bs + kDirectAlignment - 1) / kDirectAlignment * kDirectAlignment));
    std::memcpy(tmp, good.data(), bs);
    const bool ok = bool(data_->pwrite(uint64_t(page) * bs, std::span<const std::byte>(tmp, bs)));
    std::free(tmp);
    std::lock_guard lock(mu_);
    if (ok) ++counters_.page_crc_repairs;
    return ok;
  });
  (void)rewritten;  // a failed rewrite is caught by the next read again
  co_return Result<void>{};
}

Result<void> CachedLun::adopt_page_crcs() {
  // Nothing recorded what these pages held, so this cannot find damage done before the
  // upgrade; it closes the window from now on. One pass over the used part of the cache file.
  std::vector<std::byte> buf(block_size_);
  uint64_t adopted = 0, unreadable = 0;
  for (const auto& [id, c] : state_->chunks) {
    for (uint32_t e : c.entries) {
      if (!is_page(e) || state_->page_crc_known(e)) continue;
      if (!data_->pread(uint64_t(e) * block_size_, buf)) {
        ++unreadable;  // the read path meets the same error and handles it
        continue;
      }
      state_->set_page_crc(e, core::crc32c(std::span<const std::byte>(buf)));
      ++adopted;
    }
  }
  core::logger("cache")->info(
      "{}: cache written before page checksums: took the CRC32C of {} pages as they are ({} "
      "unreadable)",
      lun_.container, adopted, unreadable);
  return {};
}

}  // namespace swiftness::cache
