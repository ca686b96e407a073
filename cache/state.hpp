// The cache's metadata as a pure state machine: which chunk object is current, which blocks of
// each chunk are cached in which cache-file page, which are dirty, and which pages are free.
// Live commits and journal replay call the same apply_* functions, so a replayed cache ends in
// exactly the state the live one was in (for the records that survived). No I/O, no locking:
// CachedLun guards it with its mutex.
//
// Page reuse rule (what makes replay safe): a page superseded by a write, an unmap or an
// eviction is quarantined until the next local checkpoint is durable. Until then the journal
// may still refer to it, so its bytes must stay what that record says.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace swiftness::cache {

inline constexpr uint32_t kNoPage = 0xFFFFFFFF;    // not cached: the object's bytes (or zeros)
inline constexpr uint32_t kZeroPage = 0xFFFFFFFE;  // reads as zeros (unmapped), no storage

inline bool is_page(uint32_t e) {
  return e < kZeroPage;
}

// One immutable chunk object: its name is derived from (chunk, epoch, gen); crc32c of content.
struct ObjectRef {
  uint32_t epoch = 0;
  uint64_t gen = 0;  // 0: no object, the chunk reads as zeros
  uint32_t crc = 0;
  bool exists() const { return gen != 0; }
  friend bool operator==(const ObjectRef&, const ObjectRef&) = default;
};

struct PageRun {
  uint32_t page = 0;
  uint32_t count = 0;
};

// Blocks [first, first + count) of one chunk; `runs` (if any) list their pages in order.
struct Segment {
  uint64_t chunk = 0;
  uint32_t first = 0;
  uint32_t count = 0;
  std::vector<PageRun> runs;
};

// An object to delete once the Swift index no longer refers to it (index seq >= needed) and
// the grace period has passed.
struct Garbage {
  std::string name;
  uint64_t needed_index_seq = 0;
};

struct ChunkState {
  ObjectRef object;
  std::vector<uint32_t> entries;  // per block; empty means every block is kNoPage
  std::vector<uint64_t> dirty;    // bitmap over blocks
  uint32_t dirty_count = 0;
  uint32_t page_count = 0;
  // Live-only bookkeeping (not journaled).
  bool uploading = false;
  uint64_t unmap_epoch = 0;  // changes on a whole-chunk unmap: an upload in flight is void
  uint64_t last_use = 0;     // LRU tick
  std::chrono::steady_clock::time_point dirty_since{};
  std::chrono::steady_clock::time_point retry_after{};
  uint32_t failures = 0;
  uint32_t damaged = 0;  // dirty blocks whose page failed its CRC: the flusher leaves the chunk

  bool is_dirty(uint32_t b) const { return !dirty.empty() && (dirty[b / 64] >> (b % 64)) & 1; }
};

class CacheState {
 public:
  using NameFn = std::function<std::string(uint64_t chunk, const ObjectRef&)>;

  CacheState(uint32_t chunk_blocks, uint64_t lun_blocks, uint32_t pages, NameFn name_fn);

  uint32_t chunk_blocks() const { return chunk_blocks_; }
  uint64_t lun_blocks() const { return lun_blocks_; }
  void set_lun_blocks(uint64_t n) { lun_blocks_ = n; }
  uint64_t chunk_count() const { return (lun_blocks_ + chunk_blocks_ - 1) / chunk_blocks_; }
  uint32_t blocks_in_chunk(uint64_t chunk) const;

  // ---- pages ----
  uint32_t page_total() const { return uint32_t(pins_.size()); }
  uint32_t free_pages() const { return free_count_; }
  size_t quarantined() const { return quarantine_.size(); }
  std::optional<std::vector<PageRun>> allocate(uint32_t n);
  void free_unreferenced(std::span<const PageRun> runs);  // pages no record refers to
  void pin(uint32_t page) { ++pins_[page]; }
  void unpin(uint32_t page);
  void unpin(uint32_t first, uint32_t count);  // pages first.. first + count - 1
  std::vector<uint32_t> take_quarantine();
  void release(std::span<const uint32_t> pages);  // after a checkpoint made them unreferenced
  void rebuild_free_map();                        // after loading or replaying: free = unused

  // ---- page checksums (issue 8) ----
  // CRC32C of each page's bytes, set before a record refers to the page. A referenced page is
  // never rewritten with other bytes (writes take fresh pages), so the CRC holds while it is
  // referenced. Unknown only for pages of a cache written before checksums (adopted at open).
  void set_page_crc(uint32_t page, uint32_t crc) {
    page_crcs_[page] = crc;
    crc_known_[page / 64] |= 1ull << (page % 64);
  }
  bool page_crc_known(uint32_t page) const { return (crc_known_[page / 64] >> (page % 64)) & 1; }
  uint32_t page_crc(uint32_t page) const { return page_crcs_[page]; }
  // A dirty page that failed its CRC: its block exists nowhere else. Reads of it fail and the
  // flusher skips its chunk until a write or an unmap retires the page (live-only state: after
  // a restart the next read or upload finds the damage again).
  void mark_damaged(uint64_t chunk, uint32_t page);
  bool is_damaged(uint32_t page) const { return damaged_.count(page) != 0; }
  size_t damaged_pages() const { return damaged_.size(); }

  // ---- transitions (journal records) ----
  ChunkState& chunk(uint64_t id);  // creates an empty state
  ChunkState* find(uint64_t id);
  void apply_write(const Segment& s);
  // Clean data of object `ref` for blocks still kNoPage; returns blocks applied.
  uint32_t apply_fill(const Segment& s, const ObjectRef& ref);
  void apply_unmap(uint64_t chunk, uint32_t first, uint32_t count, uint64_t needed_index_seq);
  void apply_clean(uint64_t chunk, const ObjectRef& ref, std::span<const uint64_t> cleaned,
                   uint64_t needed_index_seq);
  void add_garbage(Garbage g) { garbage.push_back(std::move(g)); }
  // Drops the clean pages of a chunk (to quarantine); returns pages dropped.
  uint32_t evict_clean(uint64_t chunk);
  void maybe_erase(uint64_t chunk);

  std::string object_name(uint64_t chunk, const ObjectRef& ref) const {
    return name_fn_(chunk, ref);
  }

  std::unordered_map<uint64_t, ChunkState> chunks;
  std::set<uint64_t> dirty_chunks;  // chunks with dirty_count > 0 (the flusher's work list)
  std::vector<Garbage> garbage;
  uint64_t next_gen = 1;      // generation for the next chunk object (LUN-wide, increasing)
  uint64_t index_seq = 0;     // newest Swift index checkpoint known to be saved
  uint64_t dirty_blocks = 0;  // over all chunks
  uint64_t used_pages = 0;    // pages referenced by entries

 private:
  void retire(uint32_t page);  // superseded: quarantine
  void set_dirty(uint64_t id, ChunkState& c, uint32_t b);
  void clear_dirty(uint64_t id, ChunkState& c, uint32_t b);
  void ensure_entries(ChunkState& c, uint64_t id);
  void mark(uint32_t page, bool free);

  uint32_t chunk_blocks_;
  uint64_t lun_blocks_;
  NameFn name_fn_;
  std::vector<uint64_t> free_map_;  // bit set: page free
  uint32_t free_count_ = 0;
  uint32_t cursor_ = 0;
  std::vector<uint16_t> pins_;
  std::vector<uint8_t> deferred_;  // released while pinned: free on the last unpin
  std::vector<uint32_t> quarantine_;
  uint64_t unmap_counter_ = 0;
  std::vector<uint32_t> page_crcs_;
  std::vector<uint64_t> crc_known_;                 // bit set: page_crcs_ holds the CRC
  std::unordered_map<uint32_t, uint64_t> damaged_;  // page -> chunk
};

}  // namespace swiftness::cache
