// Attaching a LUN: LUN metadata in Swift, then the local cache (checkpoint + journal replay) or,
// with an empty cache directory, the chunk index from Swift.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <random>

#include "cache/blocking.hpp"
#include "cache/cached_lun.hpp"
#include "core/crc32c.hpp"
#include "core/log.hpp"

namespace swiftness::cache {

using core::block_errc;
using core::object_errc;
using core::Result;
namespace asio = boost::asio;

namespace {
constexpr const char* kMetaName = "lun.meta";
constexpr const char* kPointerName = "index.pointer";

std::error_code refused() {
  return std::make_error_code(std::errc::invalid_argument);
}

std::span<const std::byte> as_bytes(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}
}  // namespace

std::string CachedLun::sanitized() const {
  std::string s = lun_.container;
  for (char& c : s) {
    if (c == '/' || c == '\0') c = '_';
  }
  return s;
}

asio::awaitable<Result<std::shared_ptr<CachedLun>>> CachedLun::open(
    asio::any_io_executor ex, asio::any_io_executor pool, std::shared_ptr<core::ObjectStore> store,
    LunConfig lun, CacheConfig cache, CachedLunOptions options) {
  std::shared_ptr<CachedLun> self(new CachedLun(std::move(ex), std::move(pool), std::move(store),
                                                std::move(lun), std::move(cache),
                                                std::move(options)));
  if (auto r = co_await self->attach(); !r) co_return r.error();
  self->start_background();
  co_return self;
}

asio::awaitable<Result<void>> CachedLun::attach_meta() {
  auto log = core::logger("cache");
  const LunConfig& c = lun_;
  if ((c.block_size != 512 && c.block_size != 4096) || c.size_bytes == 0 ||
      c.size_bytes % c.block_size != 0 || c.chunk_size < (1u << 20) || c.chunk_size > (64u << 20) ||
      c.chunk_size % c.block_size != 0) {
    log->error("{}: invalid LUN geometry (size {}, block size {}, chunk size {})", c.container,
               c.size_bytes, c.block_size, c.chunk_size);
    co_return refused();
  }
  if (auto r = co_await store_->create_container(c.container, c.storage_policy); !r) {
    if (r.error() != object_errc::conflict) {
      log->error("{}: cannot create container: {}", c.container, r.error().message());
      co_return block_errc::unavailable;
    }
    log->warn("{}: container exists with another storage policy; keeping it", c.container);
  }
  const core::ObjectKey key{c.container, kMetaName};
  core::GetOptions newest;
  newest.newest = true;
  std::optional<LunMeta> meta;
  for (int attempt = 0; attempt < 3 && !meta; ++attempt) {
    auto got = co_await store_->get(key, newest);
    if (got) {
      meta = decode_lun_meta(got->body);
      if (!meta) {
        log->error("{}: {} is not a Swiftness LUN description", c.container, kMetaName);
        co_return refused();
      }
      break;
    }
    if (got.error() != object_errc::not_found) {
      log->error("{}: cannot read {}: {}", c.container, kMetaName, got.error().message());
      co_return block_errc::unavailable;
    }
    // A new LUN: a fresh UUID (the VPD 83 NAA designator), created only if nobody else did.
    LunMeta m;
    std::random_device rd;
    for (size_t i = 0; i < m.uuid.size(); i += 4) {
      uint32_t v = rd();
      for (size_t j = 0; j < 4; ++j)
        m.uuid[i + j] = uint8_t(v >> (8 * j));
    }
    m.uuid[6] = uint8_t((m.uuid[6] & 0x0f) | 0x40);  // RFC 4122 version 4
    m.uuid[8] = uint8_t((m.uuid[8] & 0x3f) | 0x80);
    m.size_bytes = c.size_bytes;
    m.block_size = c.block_size;
    m.chunk_size = c.chunk_size;
    m.compression = c.compression;
    const std::string text = encode_lun_meta(m);
    core::PutOptions create;
    create.if_none_match = true;
    auto put = co_await store_->put(key, as_bytes(text), create);
    if (put) {
      meta = m;
    } else if (put.error() != object_errc::precondition_failed) {
      log->error("{}: cannot create {}: {}", c.container, kMetaName, put.error().message());
      co_return block_errc::unavailable;
    }
  }
  if (!meta) co_return block_errc::unavailable;
  if (meta->block_size != c.block_size) {
    log->error("{}: LUN has block size {}, configuration says {}: refusing to attach", c.container,
               meta->block_size, c.block_size);
    co_return refused();
  }
  if (meta->size_bytes > c.size_bytes) {
    log->error("{}: LUN has {} bytes, configuration says {}: shrinking is refused", c.container,
               meta->size_bytes, c.size_bytes);
    co_return refused();
  }
  if (meta->chunk_size != c.chunk_size) {
    log->warn("{}: LUN was created with chunk size {}; configuration's {} is ignored", c.container,
              meta->chunk_size, c.chunk_size);
    lun_.chunk_size = meta->chunk_size;
  }
  if (meta->size_bytes < c.size_bytes) {
    // Growing is allowed; the SCSI layer raises CAPACITY DATA HAS CHANGED.
    LunMeta grown = *meta;
    grown.size_bytes = c.size_bytes;
    const std::string text = encode_lun_meta(grown);
    const core::PutOptions overwrite;
    if (auto put = co_await store_->put(key, as_bytes(text), overwrite); !put) {
      co_return block_errc::unavailable;
    }
    capacity_changed_ = true;
    log->info("{}: grown from {} to {} bytes", c.container, meta->size_bytes, c.size_bytes);
  }
  uuid_ = meta->uuid;
  block_size_ = c.block_size;
  chunk_blocks_ = lun_.chunk_size / block_size_;
  lun_blocks_ = c.size_bytes / block_size_;
  pages_ = uint32_t(std::min<uint64_t>(cfg_.size_bytes / block_size_, 0xFFFFFF00u));
  if (pages_ < chunk_blocks_) {
    log->error("{}: cache of {} bytes is smaller than one chunk", c.container, cfg_.size_bytes);
    co_return refused();
  }
  co_return Result<void>{};
}

asio::awaitable<Result<void>> CachedLun::load_swift_index() {
  const core::ObjectKey pointer{lun_.container, kPointerName};
  core::GetOptions newest;
  newest.newest = true;
  auto p = co_await store_->get(pointer, newest);
  if (!p) {
    if (p.error() == object_errc::not_found) co_return Result<void>{};  // nothing drained yet
    co_return block_errc::unavailable;
  }
  uint64_t seq = 0;
  try {
    seq = std::stoull(std::string(reinterpret_cast<const char*>(p->body.data()), p->body.size()));
  } catch (const std::exception&) {
    co_return block_errc::medium_error;
  }
  char name[32];
  std::snprintf(name, sizeof name, "index/%016llx", (unsigned long long)seq);
  const core::ObjectKey key{lun_.container, name};
  const core::GetOptions plain;
  std::optional<std::vector<IndexEntry>> entries;
  for (int attempt = 0; attempt < 5 && !entries; ++attempt) {
    auto got = co_await store_->get(key, plain);
    if (got) {
      uint64_t found = 0;
      entries = decode_index(got->body, uuid_, found);
      if (entries && found != seq) entries.reset();
    }
    if (!entries) co_await sleep(std::chrono::milliseconds(50 << attempt));
  }
  if (!entries) co_return block_errc::medium_error;
  std::lock_guard lock(mu_);
  index_seq_assigned_ = std::max(index_seq_assigned_, seq);
  state_->index_seq = std::max(state_->index_seq, seq);
  for (const IndexEntry& e : *entries) {
    if (e.chunk >= state_->chunk_count()) continue;
    state_->chunk(e.chunk).object = e.ref;
    state_->next_gen = std::max(state_->next_gen, e.ref.gen + 1);
  }
  co_return Result<void>{};
}

bool CachedLun::pages_on_disk(const std::vector<Segment>& segs,
                              std::vector<std::optional<uint32_t>>& crcs) {
  crcs.clear();
  std::vector<std::byte> buf;
  for (const Segment& s : segs) {
    for (const PageRun& r : s.runs) {
      if (uint64_t(r.page) + r.count > pages_) return false;
      buf.resize(size_t(r.count) * block_size_);
      const bool read = bool(data_->pread(uint64_t(r.page) * block_size_, buf));
      for (uint32_t i = 0; i < r.count; ++i) {
        if (!read) {
          crcs.push_back(std::nullopt);
          continue;
        }
        crcs.push_back(core::crc32c(
            std::span<const std::byte>(buf.data() + size_t(i) * block_size_, block_size_)));
      }
    }
  }
  return true;
}

bool CachedLun::check_pages(const std::vector<Segment>& segs, uint32_t check) {
  std::vector<std::optional<uint32_t>> found;
  if (!pages_on_disk(segs, found)) return false;
  std::vector<uint32_t> crcs;
  for (const auto& c : found) {
    if (!c) return false;
    crcs.push_back(*c);
  }
  if (combine_block_crcs(crcs) != check) return false;
  // The bytes are what the record says: their CRCs are the pages' checks from now on.
  size_t k = 0;
  for (const Segment& s : segs) {
    for (const PageRun& r : s.runs) {
      for (uint32_t i = 0; i < r.count; ++i)
        state_->set_page_crc(r.page + i, crcs[k++]);
    }
  }
  return true;
}

Result<void> CachedLun::replay(File& journal, uint64_t first_seq) {
  auto size = journal.size();
  if (!size) return block_errc::io_error;
  std::vector<std::byte> bytes(*size);
  if (!journal.pread(0, bytes)) return block_errc::io_error;
  // Stops at the first torn or foreign record: everything after it was never made durable
  // (fdatasync covers the whole file, so a durable record never follows a torn one). Two
  // passes, the first for the data_synced records (they follow what they cover), rather than
  // holding every decoded record of a journal of up to checkpoint_journal_bytes at once.
  auto for_each_record = [&](auto&& fn) {
    uint64_t seq = first_seq;
    size_t consumed = 0;
    for (size_t off = 0;; off += consumed, ++seq) {
      auto rec = decode_record(std::span(bytes).subspan(off), consumed);
      if (!rec || rec->seq != seq) return seq;
      fn(*rec);
    }
  };
  uint64_t synced = 0;  // the data of records up to here reached stable storage
  for_each_record([&](const Record& rec) {
    if (rec.type == RecordType::data_synced) synced = std::max(synced, rec.data_synced);
  });
  struct Damaged {
    uint64_t chunk;
    uint32_t block;
    uint32_t page;
  };
  std::vector<Damaged> damaged;
  std::vector<std::optional<uint32_t>> found;
  CacheState& s = *state_;
  next_seq_ = for_each_record([&](const Record& rec) {
    switch (rec.type) {
      case RecordType::write: {
        const bool plausible =
            pages_on_disk(rec.segments, found) && found.size() == rec.page_crcs.size();
        std::vector<Damaged> bad;
        for (size_t k = 0, i = 0; plausible && k < rec.segments.size(); ++k) {
          const Segment& seg = rec.segments[k];
          uint32_t block = seg.first;
          for (const PageRun& r : seg.runs) {
            for (uint32_t j = 0; j < r.count; ++j, ++i, ++block) {
              if (found[i] != rec.page_crcs[i]) bad.push_back({seg.chunk, block, r.page + j});
            }
          }
        }
        // Data that never reached the disk before a power loss: the write was never
        // acknowledged as durable, and it is dropped whole, never half of it. Data made durable
        // that fails now was damaged since: the write is applied and its bad blocks read as
        // MEDIUM ERROR until rewritten, never as the content they replaced.
        if (!plausible || (!bad.empty() && rec.seq > synced)) {
          ++counters_.skipped_records;
          return;
        }
        if (!bad.empty()) ++counters_.damaged_records;
        damaged.insert(damaged.end(), bad.begin(), bad.end());
        size_t i = 0;
        for (const Segment& seg : rec.segments) {
          for (const PageRun& r : seg.runs) {
            for (uint32_t j = 0; j < r.count; ++j)
              s.set_page_crc(r.page + j, rec.page_crcs[i++]);
          }
          s.apply_write(seg);
        }
        break;
      }
      case RecordType::write_v1:
        // From a journal of before data_synced records: a failed check is taken as torn.
        if (!check_pages(rec.segments, rec.data_check)) {
          ++counters_.skipped_records;
          return;
        }
        for (const Segment& seg : rec.segments)
          s.apply_write(seg);
        break;
      case RecordType::fill:
        // Clean data: whatever the reason it fails, Swift still has it; fetched again.
        if (!check_pages(rec.segments, rec.data_check)) {
          ++counters_.skipped_records;
          return;
        }
        for (const Segment& seg : rec.segments)
          s.apply_fill(seg, rec.ref);
        break;
      case RecordType::unmap:
        for (const Segment& seg : rec.segments) {
          s.apply_unmap(seg.chunk, seg.first, seg.count, rec.needed_index_seq);
        }
        break;
      case RecordType::clean:
        s.apply_clean(rec.chunk, rec.ref, rec.cleaned, rec.needed_index_seq);
        s.next_gen = std::max(s.next_gen, rec.ref.gen + 1);
        break;
      case RecordType::garbage:
        s.add_garbage({rec.name, rec.needed_index_seq});
        break;
      case RecordType::index_saved:
        s.index_seq = std::max(s.index_seq, rec.index_seq);
        break;
      case RecordType::data_synced:
        break;
    }
    ++counters_.replayed_records;
  });
  s.rebuild_free_map();
  // Only dirty blocks whose damaged page is still theirs matter here (a later record may have
  // replaced, unmapped or uploaded it): counted, logged and marked like damage a read finds. A
  // clean one is repaired from Swift by the first read, as a page damaged later would be.
  for (const Damaged& d : damaged) {
    const ChunkState* c = s.find(d.chunk);
    if (c && d.block < c->entries.size() && c->entries[d.block] == d.page && c->is_dirty(d.block)) {
      note_bad_page_locked(d.chunk, d.block, d.page, "journal replay");
    }
  }
  return {};
}

Result<void> CachedLun::restore_local() {
  auto log = core::logger("cache");
  const std::string base = sanitized();
  auto name_fn = [this](uint64_t chunk, const ObjectRef& ref) { return object_name(chunk, ref); };
  std::lock_guard lock(mu_);  // not yet shared, but replay helpers expect it held
  bool have_local = false;
  std::optional<CheckpointHeader> hdr;
  std::vector<std::byte> ckpt;
  if (fs_->exists(base + ".ckpt")) {
    auto f = fs_->open(base + ".ckpt", false, false);
    if (!f) return block_errc::io_error;
    auto size = (*f)->size();
    if (!size) return block_errc::io_error;
    ckpt.resize(*size);
    if (!(*f)->pread(0, ckpt)) return block_errc::io_error;
    hdr = parse_checkpoint_header(ckpt);
    if (!hdr) {
      log->error("{}: cache checkpoint is corrupt; move the cache files away to start empty",
                 lun_.container);
      return block_errc::io_error;
    }
    have_local = true;
    if (hdr->uuid != uuid_ || hdr->block_size != block_size_ ||
        hdr->chunk_blocks != chunk_blocks_) {
      // The cache belongs to another LUN incarnation. Its clean data is worthless; dirty data
      // would be lost by discarding it, so refuse then.
      CacheState probe(hdr->chunk_blocks, hdr->lun_blocks, hdr->pages, name_fn);
      if (!load_checkpoint(ckpt, probe) || probe.dirty_blocks != 0) {
        log->error("{}: cache directory holds dirty data of another LUN (UUID {}): refusing",
                   lun_.container, uuid_hex(hdr->uuid));
        return refused();
      }
      log->warn("{}: discarding a clean cache of another LUN incarnation", lun_.container);
      have_local = false;
    }
  }
  if (have_local) pages_ = hdr->pages;  // the cache file keeps the size it was created with
  state_ = std::make_unique<CacheState>(chunk_blocks_, lun_blocks_, pages_, name_fn);
  auto df = fs_->open(base + ".data", true, cfg_.direct_writes);
  if (!df) return block_errc::io_error;
  data_ = std::shared_ptr<File>(std::move(*df));
  auto dsize = data_->size();
  if (!dsize) return block_errc::io_error;
  if (*dsize < uint64_t(pages_) * block_size_) {
    if (!data_->preallocate(uint64_t(pages_) * block_size_)) return block_errc::io_error;
  }
  if (!have_local) {
    journal_gen_ = 0;
    next_seq_ = 1;
    return {};
  }
  if (!load_checkpoint(ckpt, *state_)) return block_errc::io_error;
  journal_gen_ = hdr->journal_gen;
  next_seq_ = hdr->last_seq + 1;
  index_seq_assigned_ = state_->index_seq;
  const std::string jname = base + ".journal." + std::to_string(journal_gen_);
  if (fs_->exists(jname)) {
    auto jf = fs_->open(jname, false, false);
    if (!jf) return block_errc::io_error;
    if (auto r = replay(**jf, next_seq_); !r) return r;
  }
  index_seq_assigned_ = std::max(index_seq_assigned_, state_->index_seq);
  // Older cache directories load as they are (a restart must not lose their dirty data); their
  // pages get a CRC now. The next checkpoint (at the end of attach) writes version 2.
  if (hdr->version < 2) {
    if (auto r = adopt_page_crcs(); !r) return r;
  }
  log->info(
      "{}: cache restored: {} dirty blocks, {} cached, {} records replayed ({} torn, {} with "
      "damaged pages)",
      lun_.container, state_->dirty_blocks, state_->used_pages, counters_.replayed_records,
      counters_.skipped_records, counters_.damaged_records);
  restored_local_ = true;
  // Whether Swift's index caught up with this state before the restart is unknown (a crash
  // between a chunk commit and the index PUT): save it again at the first opportunity.
  index_dirty_ = true;
  return {};
}

asio::awaitable<Result<void>> CachedLun::attach() {
  if (auto r = co_await attach_meta(); !r) co_return r;
  if (auto r = co_await run_blocking(pool_, [this]() { return restore_local(); }); !r) {
    co_return r;
  }
  if (!restored_local_) {
    // An empty cache directory: everything drained to Swift is reachable from its index.
    if (auto r = co_await load_swift_index(); !r) co_return r;
  }
  // A fresh journal after a checkpoint: nothing torn is ever appended to.
  co_return co_await run_blocking(pool_, [this]() { return checkpoint_blocking(); });
}

void CachedLun::start_background() {
  loops_running_ = 2;
  asio::co_spawn(
      ex_, [self = shared_from_this()]() { return self->flusher_loop(); }, asio::detached);
  asio::co_spawn(
      ex_, [self = shared_from_this()]() { return self->maintenance_loop(); }, asio::detached);
}

}  // namespace swiftness::cache
