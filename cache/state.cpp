#include "cache/state.hpp"

#include <algorithm>
#include <bit>
#include <chrono>

namespace swiftness::cache {

CacheState::CacheState(uint32_t chunk_blocks, uint64_t lun_blocks, uint32_t pages, NameFn name_fn)
    : chunk_blocks_(chunk_blocks),
      lun_blocks_(lun_blocks),
      name_fn_(std::move(name_fn)),
      free_map_((pages + 63) / 64, 0),
      pins_(pages, 0),
      deferred_(pages, 0),
      page_crcs_(pages, 0),
      crc_known_((pages + 63) / 64, 0) {
  for (uint32_t p = 0; p < pages; ++p)
    mark(p, true);
}

uint32_t CacheState::blocks_in_chunk(uint64_t chunk) const {
  uint64_t start = chunk * chunk_blocks_;
  if (start >= lun_blocks_) return 0;
  return uint32_t(std::min<uint64_t>(chunk_blocks_, lun_blocks_ - start));
}

void CacheState::mark(uint32_t page, bool free) {
  uint64_t bit = 1ull << (page % 64);
  bool was = free_map_[page / 64] & bit;
  if (free && !was) {
    free_map_[page / 64] |= bit;
    ++free_count_;
  } else if (!free && was) {
    free_map_[page / 64] &= ~bit;
    --free_count_;
  }
}

std::optional<std::vector<PageRun>> CacheState::allocate(uint32_t n) {
  if (n > free_count_) return std::nullopt;
  std::vector<PageRun> runs;
  const uint32_t total = page_total();
  uint32_t p = cursor_ >= total ? 0 : cursor_;
  uint32_t need = n;
  // Next-fit over the bitmap: consecutive pages make consecutive runs, so a large write is
  // one pwrite and its record stays small.
  while (need > 0) {
    uint64_t word = free_map_[p / 64] >> (p % 64);
    if (word == 0) {
      p = (p / 64 + 1) * 64;
      if (p >= total) p = 0;
      continue;
    }
    p += uint32_t(std::countr_zero(word));
    if (p >= total) {
      p = 0;
      continue;
    }
    mark(p, false);
    if (!runs.empty() && runs.back().page + runs.back().count == p) {
      ++runs.back().count;
    } else {
      runs.push_back({p, 1});
    }
    --need;
    ++p;
    if (p >= total) p = 0;
  }
  cursor_ = p;
  return runs;
}

void CacheState::free_unreferenced(std::span<const PageRun> runs) {
  for (const PageRun& r : runs) {
    for (uint32_t i = 0; i < r.count; ++i)
      mark(r.page + i, true);
  }
}

void CacheState::unpin(uint32_t page) {
  if (--pins_[page] == 0 && deferred_[page]) {
    deferred_[page] = 0;
    mark(page, true);
  }
}

void CacheState::unpin(uint32_t first, uint32_t count) {
  for (uint32_t i = 0; i < count; ++i)
    unpin(first + i);
}

void CacheState::retire(uint32_t page) {
  quarantine_.push_back(page);
  // A write or an unmap over a damaged block heals it: the bad page is no longer read.
  if (auto it = damaged_.find(page); it != damaged_.end()) {
    if (ChunkState* c = find(it->second); c && c->damaged > 0) --c->damaged;
    damaged_.erase(it);
  }
}

void CacheState::mark_damaged(uint64_t id, uint32_t page) {
  if (!damaged_.emplace(page, id).second) return;
  ++chunk(id).damaged;
}

std::vector<uint32_t> CacheState::take_quarantine() {
  std::vector<uint32_t> out;
  out.swap(quarantine_);
  return out;
}

void CacheState::release(std::span<const uint32_t> pages) {
  for (uint32_t p : pages) {
    if (pins_[p] > 0) {
      deferred_[p] = 1;  // a reader or an upload still reads it
    } else {
      mark(p, true);
    }
  }
}

void CacheState::rebuild_free_map() {
  std::vector<uint8_t> used(page_total(), 0);
  used_pages = 0;
  dirty_blocks = 0;
  dirty_chunks.clear();
  for (auto& [id, c] : chunks) {
    c.page_count = 0;
    c.dirty_count = 0;
    for (uint32_t b = 0; b < c.entries.size(); ++b) {
      if (is_page(c.entries[b])) {
        used[c.entries[b]] = 1;
        ++c.page_count;
      }
      if (c.is_dirty(b)) ++c.dirty_count;
    }
    used_pages += c.page_count;
    dirty_blocks += c.dirty_count;
    if (c.dirty_count > 0) dirty_chunks.insert(id);
  }
  for (uint32_t p = 0; p < page_total(); ++p)
    mark(p, !used[p]);
  quarantine_.clear();
}

ChunkState& CacheState::chunk(uint64_t id) {
  return chunks[id];
}

ChunkState* CacheState::find(uint64_t id) {
  auto it = chunks.find(id);
  return it == chunks.end() ? nullptr : &it->second;
}

void CacheState::ensure_entries(ChunkState& c, uint64_t id) {
  uint32_t n = std::max<uint32_t>(blocks_in_chunk(id), uint32_t(c.entries.size()));
  if (c.entries.size() < n) c.entries.resize(n, kNoPage);
  if (c.dirty.size() < (n + 63) / 64) c.dirty.resize((n + 63) / 64, 0);
}

void CacheState::set_dirty(uint64_t id, ChunkState& c, uint32_t b) {
  if (c.is_dirty(b)) return;
  if (c.dirty_count == 0) {
    c.dirty_since = std::chrono::steady_clock::now();
    dirty_chunks.insert(id);
  }
  c.dirty[b / 64] |= 1ull << (b % 64);
  ++c.dirty_count;
  ++dirty_blocks;
}

void CacheState::clear_dirty(uint64_t id, ChunkState& c, uint32_t b) {
  if (!c.is_dirty(b)) return;
  c.dirty[b / 64] &= ~(1ull << (b % 64));
  --dirty_blocks;
  if (--c.dirty_count == 0) dirty_chunks.erase(id);
}

void CacheState::apply_write(const Segment& s) {
  const uint64_t id = s.chunk;
  ChunkState& c = chunk(id);
  ensure_entries(c, s.chunk);
  uint32_t b = s.first;
  for (const PageRun& r : s.runs) {
    for (uint32_t i = 0; i < r.count; ++i, ++b) {
      if (b >= c.entries.size()) return;  // defensive: a record past the chunk end
      uint32_t old = c.entries[b];
      if (is_page(old)) {
        retire(old);
        --c.page_count;
        --used_pages;
      }
      c.entries[b] = r.page + i;
      ++c.page_count;
      ++used_pages;
      set_dirty(id, c, b);
    }
  }
}

uint32_t CacheState::apply_fill(const Segment& s, const ObjectRef& ref) {
  ChunkState* cp = find(s.chunk);
  if (!cp || cp->object.gen != ref.gen || !ref.exists()) return 0;
  ChunkState& c = *cp;
  ensure_entries(c, s.chunk);
  uint32_t applied = 0;
  uint32_t b = s.first;
  for (const PageRun& r : s.runs) {
    for (uint32_t i = 0; i < r.count; ++i, ++b) {
      if (b >= c.entries.size() || c.entries[b] != kNoPage) continue;
      c.entries[b] = r.page + i;
      ++c.page_count;
      ++used_pages;
      ++applied;
    }
  }
  return applied;
}

void CacheState::apply_unmap(uint64_t id, uint32_t first, uint32_t count,
                             uint64_t needed_index_seq) {
  const uint32_t n = blocks_in_chunk(id);
  ChunkState* existing = find(id);
  if (first == 0 && count >= n) {
    // SBC-3 UNMAP of a whole chunk: the chunk has no object any more and reads as zeros; the
    // old object is deleted lazily once the Swift index stops referring to it.
    if (!existing) return;
    ChunkState& c = *existing;
    for (uint32_t b = 0; b < c.entries.size(); ++b) {
      if (is_page(c.entries[b])) {
        retire(c.entries[b]);
        --used_pages;
      }
      clear_dirty(id, c, b);
    }
    if (c.object.exists()) add_garbage({object_name(id, c.object), needed_index_seq});
    c.object = {};
    c.entries.clear();
    c.dirty.clear();
    c.page_count = 0;
    c.unmap_epoch = ++unmap_counter_;
    maybe_erase(id);
    return;
  }
  ChunkState& c = chunk(id);
  ensure_entries(c, id);
  for (uint32_t b = first; b < first + count && b < c.entries.size(); ++b) {
    if (is_page(c.entries[b])) {
      retire(c.entries[b]);
      --c.page_count;
      --used_pages;
    }
    c.entries[b] = kZeroPage;
    set_dirty(id, c, b);
  }
}

void CacheState::apply_clean(uint64_t id, const ObjectRef& ref, std::span<const uint64_t> cleaned,
                             uint64_t needed_index_seq) {
  ChunkState& c = chunk(id);
  ensure_entries(c, id);
  for (uint32_t b = 0; b < c.entries.size() && b / 64 < cleaned.size(); ++b) {
    if (!((cleaned[b / 64] >> (b % 64)) & 1)) continue;
    clear_dirty(id, c, b);
    // Zeros are now in the object (or the chunk has none): nothing to keep locally.
    if (c.entries[b] == kZeroPage) c.entries[b] = kNoPage;
  }
  ObjectRef old = c.object;
  c.object = ref;
  if (old.exists() && !(old.gen == ref.gen && old.epoch == ref.epoch)) {
    add_garbage({object_name(id, old), needed_index_seq});
  }
  maybe_erase(id);
}

uint32_t CacheState::evict_clean(uint64_t id) {
  ChunkState* c = find(id);
  if (!c) return 0;
  uint32_t dropped = 0;
  for (uint32_t b = 0; b < c->entries.size(); ++b) {
    if (is_page(c->entries[b]) && !c->is_dirty(b)) {
      retire(c->entries[b]);
      c->entries[b] = kNoPage;
      --c->page_count;
      --used_pages;
      ++dropped;
    }
  }
  maybe_erase(id);
  return dropped;
}

void CacheState::maybe_erase(uint64_t id) {
  ChunkState* c = find(id);
  if (!c || c->uploading || c->dirty_count != 0 || c->page_count != 0 || c->object.exists()) {
    return;
  }
  for (uint32_t e : c->entries) {
    if (e != kNoPage) return;
  }
  chunks.erase(id);
}

}  // namespace swiftness::cache
