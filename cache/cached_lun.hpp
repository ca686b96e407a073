// A Swift-backed LUN with a persistent local write-back cache (issue 5, design.md §4).
//
// Swift layout (one container per LUN):
//   lun.meta                      size, block size, chunk size, UUID, format version
//   index.pointer                 hex seq of the newest index object (read with X-Newest)
//   index/<seq:016x>              immutable: chunk -> (epoch, gen, crc) for every chunk object
//   chunk/<chunk:012x>/<epoch:08x>-<gen:016x>   immutable chunk content (never overwritten)
// Local files (in CacheConfig::dir, prefixed by the container name):
//   .data     preallocated pages of one logical block each, written with O_DIRECT
//   .ckpt     checkpoint of the cache state (CRC32C), replaced atomically by rename
//   .journal.<n>  records after the checkpoint (sequence number + CRC32C each)
//
// Durability: a WRITE lands in fresh pages (never over live data), then its record is appended
// to the journal; with WCE=1 that is the acknowledgement. FUA, WCE=0 and SYNCHRONIZE CACHE
// fdatasync the data file, then the journal. Replay applies a record only if it is intact and
// the data it points to matches its check, so a write is all there or not at all.
//
// Thread-safe: the BlockDevice methods may be called from several strands at once. Blocking
// file I/O runs on the blocking pool; the state is under one mutex held for short sections.
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>

#include "cache/codec.hpp"
#include "cache/config.hpp"
#include "cache/file_system.hpp"
#include "cache/format.hpp"
#include "cache/hooks.hpp"
#include "cache/state.hpp"
#include "cache/write_batch.hpp"
#include "core/block_device.hpp"
#include "core/log.hpp"
#include "core/object_store.hpp"

namespace swiftness::cache {

struct CacheStats {
  uint64_t dirty_blocks = 0;
  uint64_t used_pages = 0;
  uint64_t free_pages = 0;
  uint64_t total_pages = 0;
  uint64_t quarantined_pages = 0;
  uint64_t chunk_objects = 0;  // chunks that have an object in Swift
  uint64_t garbage = 0;        // objects waiting to be deleted
  uint64_t uploads = 0;
  uint64_t upload_failures = 0;
  uint64_t fetches = 0;
  uint64_t ranged_fetches = 0;  // of those, ranged GETs of a few granules
  uint64_t fetched_bytes = 0;   // bytes received from chunk GETs
  uint64_t checksum_failures = 0;
  uint64_t gc_deleted = 0;
  uint64_t orphans_deleted = 0;  // found by listing (collect_orphans)
  uint64_t checkpoints = 0;
  uint64_t replayed_records = 0;
  uint64_t skipped_records = 0;  // torn at replay: data did not match its record
  uint64_t damaged_records = 0;  // made durable, yet a page fails at replay: applied, damaged
  uint64_t index_seq = 0;
  uint64_t read_hit_blocks = 0;   // read from the cache file, or never written (zeros)
  uint64_t read_miss_blocks = 0;  // needed their chunk from Swift
  uint64_t dirty_chunks = 0;      // the flusher's queue
  uint64_t uploads_in_flight = 0;
  uint64_t local_errors = 0;          // failed cache-file operations (ENOSPC, EROFS, EIO, ...)
  uint64_t swift_read_fallbacks = 0;  // blocks unreadable in the cache file, served from Swift
  uint64_t page_crc_failures = 0;     // cache-file pages whose bytes did not match their CRC32C
  uint64_t page_crc_repairs = 0;      // of those, clean pages rewritten from their Swift object
  uint64_t damaged_dirty_blocks = 0;  // dirty blocks lost that way: MEDIUM ERROR until rewritten
  bool writes_stopped = false;        // a local failure stopped writes (until a probe resumes)
  uint64_t write_batches = 0;         // group commits of writes (write_batch.hpp)
  uint64_t batched_writes = 0;        // writes in them
};

struct OrphanReport {
  uint64_t listed = 0;      // chunk and index objects in the listing
  uint64_t candidates = 0;  // unreferenced
  uint64_t deleted = 0;     // unreferenced for the grace period, and deleted
};

struct CachedLunOptions {
  std::shared_ptr<FileSystem> fs;  // default: the POSIX directory CacheConfig::dir
  std::shared_ptr<ChunkCipher> cipher;
  std::shared_ptr<Hooks> hooks;
};

class CachedLun final : public core::BlockDevice, public std::enable_shared_from_this<CachedLun> {
 public:
  // Attaches the LUN: creates the container and the LUN metadata if missing, refuses an
  // existing LUN with another block size or a smaller size (a larger one is a grow), then
  // restores the local cache (checkpoint + journal replay) or, with an empty cache directory,
  // the chunk index from Swift. `ex` runs the background flusher; `pool` the blocking file I/O.
  static boost::asio::awaitable<core::Result<std::shared_ptr<CachedLun>>> open(
      boost::asio::any_io_executor ex, boost::asio::any_io_executor pool,
      std::shared_ptr<core::ObjectStore> store, LunConfig lun, CacheConfig cache,
      CachedLunOptions options = {});

  ~CachedLun() override;

  core::BlockGeometry geometry() const override;
  boost::asio::awaitable<core::Result<void>> read(core::Lba lba, std::span<std::byte> buf) override;
  boost::asio::awaitable<core::Result<void>> write(core::Lba lba, std::span<const std::byte> buf,
                                                   core::WriteFlags flags) override;
  boost::asio::awaitable<core::Result<void>> flush(core::LbaRange range) override;
  boost::asio::awaitable<core::Result<void>> unmap(std::span<const core::LbaRange> ranges) override;
  boost::asio::awaitable<core::Result<core::LbaStatus>> lba_status(core::Lba lba) override;

  // Caching mode page WCE (SBC-3 7.5.5): false makes every write durable before completion.
  void set_write_cache_enabled(bool on) { wce_.store(on); }
  bool write_cache_enabled() const { return wce_.load(); }

  // Uploads everything dirty and saves the Swift index; returns when Swift holds it all, or
  // block_errc::unavailable after `limit`.
  boost::asio::awaitable<core::Result<void>> drain(std::chrono::milliseconds limit);
  // Stops background work and writes a final checkpoint (dirty data stays in the journal).
  boost::asio::awaitable<void> close();
  // Stops background work without touching local files (tests: after a simulated crash).
  boost::asio::awaitable<void> abandon();

  // Grows the LUN to `size_bytes` while it is in use (`swiftness lun resize`, a SIGHUP reload):
  // lun.meta in Swift gets the new size first, since every later attach (after a crash, or on
  // another gateway) checks it; then the new blocks exist, and a local checkpoint records the
  // new geometry. The SCSI layer notices the block count and raises CAPACITY DATA HAS CHANGED.
  // Shrinking is refused (invalid_argument). One grow at a time (the caller serializes).
  boost::asio::awaitable<core::Result<void>> grow(uint64_t size_bytes);

  const Uuid& uuid() const { return uuid_; }
  bool capacity_changed() const { return capacity_changed_; }
  CacheStats stats() const;
  std::string object_name(uint64_t chunk, const ObjectRef& ref) const;
  const std::string& container() const { return lun_.container; }
  // Runs the maintenance a background pass would (tests): evict, checkpoint, index, GC.
  boost::asio::awaitable<core::Result<void>> checkpoint_now();
  boost::asio::awaitable<core::Result<void>> save_index_now();
  boost::asio::awaitable<void> collect_garbage_now();
  // Lists the container and deletes objects no index refers to that were already unreferenced
  // at a pass CacheConfig::orphan_grace ago (cached_lun_gc.cpp); runs every
  // CacheConfig::orphan_interval in the background too.
  boost::asio::awaitable<core::Result<OrphanReport>> collect_orphans_now();

 private:
  CachedLun(boost::asio::any_io_executor ex, boost::asio::any_io_executor pool,
            std::shared_ptr<core::ObjectStore> store, LunConfig lun, CacheConfig cache,
            CachedLunOptions options);

  struct ReadPiece {
    enum Kind : uint8_t { page, zero, miss } kind;
    uint32_t page_or_block;  // first page (page) or first block within the chunk (miss)
    uint32_t count;
    size_t buf_offset;
    uint64_t chunk;
    ObjectRef ref;
  };
  struct FetchSlot;

  // attach (cached_lun_open.cpp)
  boost::asio::awaitable<core::Result<void>> attach();
  boost::asio::awaitable<core::Result<void>> attach_meta();
  boost::asio::awaitable<core::Result<void>> load_swift_index();
  core::Result<void> restore_local();  // pool
  core::Result<void> replay(File& journal, uint64_t first_seq);
  // A cache from before page CRCs (checkpoint version 1): reads every referenced page once and
  // takes its CRC as it is now, so later damage is caught (cached_lun_verify.cpp).
  core::Result<void> adopt_page_crcs();
  void start_background();

  // data path helpers (cached_lun.cpp)
  using Deadline = std::chrono::steady_clock::time_point;
  boost::asio::awaitable<core::Result<void>> wait_dirty_room(uint64_t blocks, Deadline deadline);
  boost::asio::awaitable<core::Result<std::vector<PageRun>>> allocate_pages(uint32_t n,
                                                                            Deadline deadline);
  // Pool, one batch at a time (write_batch.hpp): the data of each write into its pages, then
  // one journal append of all their records, in arrival order.
  void commit_writes(std::span<BatchedWrite* const> writes);
  // Pool: the data of `writes` into their pages, and the CRC of each page (by write, in block
  // order); per write, the error of a data write that held any of its pages.
  std::vector<std::error_code> write_pages(std::span<BatchedWrite* const> writes,
                                           std::vector<std::vector<uint32_t>>& crcs);
  core::Result<void> append_record_locked(Record& rec);
  // Several records in one journal write; all fail together (writes stop, as for one).
  core::Result<void> append_records_locked(std::vector<Record>& recs);
  // Counts and logs (rate-limited) a failed cache-file operation and returns what the initiator
  // is told (local_errc); `stop` also stops writes until the resume probe succeeds, as a
  // journal that may hold a hole must not be appended to. Holds mu_.
  std::error_code local_failure_locked(std::error_code ec, std::string_view what, bool stop);
  // Page pieces of a read whose pread failed: clean blocks again from Swift (their object holds
  // the same bytes), dirty ones are MEDIUM ERROR (they exist nowhere else).
  boost::asio::awaitable<core::Result<void>> reread_from_swift(core::Lba lba,
                                                               std::span<std::byte> buf,
                                                               const ReadPiece& piece);
  // Data file, then journal, on stable storage for every record up to `upto_seq` (default: all
  // committed so far); shares a sync round with concurrent callers.
  core::Result<void> make_durable_blocking(std::optional<uint64_t> upto_seq = std::nullopt);
  boost::asio::awaitable<core::Result<void>> make_durable();
  // Pool, replay: the CRC32C of each page of `segs` as the cache file holds it now (nullopt for
  // one it cannot read), in run order; false if a page lies outside the cache file.
  bool pages_on_disk(const std::vector<Segment>& segs, std::vector<std::optional<uint32_t>>& crcs);
  // Pool, replay: whether the pages of `segs` match `check`; if so, their CRCs go into the state.
  bool check_pages(const std::vector<Segment>& segs, uint32_t check);

  // page checksums (cached_lun_verify.cpp, issue 8)
  // The CRC a read or an upload must find in `page`, or nullopt for a page without one.
  std::optional<uint32_t> expected_crc_locked(uint32_t page) const;
  // Checks the blocks of page piece `p`, read into `dst`, against `want` (indexed by block of
  // the read); each block that fails goes to `damaged` as a piece of its own. Pool.
  void check_piece(const ReadPiece& p, std::span<const std::byte> dst,
                   std::span<const std::optional<uint32_t>> want,
                   std::vector<ReadPiece>& damaged) const;
  // A page piece's block that failed its CRC (`piece` covers that one block): a clean block is
  // served from the chunk's current object and its page rewritten; a dirty one is marked
  // damaged and the read gets MEDIUM ERROR.
  boost::asio::awaitable<core::Result<void>> recover_damaged(core::Lba lba,
                                                             std::span<std::byte> buf,
                                                             const ReadPiece& piece,
                                                             uint32_t want_crc);
  // Counts and logs (rate-limited) a page whose bytes fail their CRC; marks a dirty one damaged.
  void note_bad_page_locked(uint64_t chunk, uint32_t block, uint32_t page, std::string_view where);
  void touch_locked(ChunkState& c) { c.last_use = ++lru_tick_; }
  // For a read of a sequential stream: whole-chunk fetches of the chunks after it, up to
  // read_ahead_chunks ahead and fetch_concurrency in flight.
  void maybe_read_ahead(core::Lba lba, uint64_t blocks);

  // Swift side (cached_lun_flush.cpp)
  // Starts the whole-object GET of (chunk, ref) unless one is on its way; its slot says when
  // it is done. fetch_content() waits for it; read-ahead does not.
  std::shared_ptr<FetchSlot> start_fetch(uint64_t chunk, ObjectRef ref);
  boost::asio::awaitable<core::Result<std::shared_ptr<const std::vector<std::byte>>>> fetch_content(
      uint64_t chunk, ObjectRef ref);
  boost::asio::awaitable<core::Result<std::vector<std::byte>>> get_verified(uint64_t chunk,
                                                                            ObjectRef ref);
  // Blocks [first, first + bytes / block size) of a chunk, verified granule by granule.
  struct RangeBytes {
    uint32_t first_block = 0;
    std::vector<std::byte> bytes;
  };
  // The granules covering blocks [first_block, end_block) by a ranged GET; nullopt when the
  // object cannot be read by range (no table, other size): the caller fetches it whole.
  boost::asio::awaitable<core::Result<std::optional<RangeBytes>>> get_range_verified(
      uint64_t chunk, ObjectRef ref, uint32_t first_block, uint32_t end_block);
  // Caches blocks [first_block, end_block) from `content` (which starts at first_block; a
  // whole object is 0, UINT32_MAX) that are still uncached and still belong to object `ref`.
  boost::asio::awaitable<void> fill(uint64_t chunk, ObjectRef ref,
                                    std::shared_ptr<const std::vector<std::byte>> content,
                                    uint32_t first_block, uint32_t end_block);
  boost::asio::awaitable<void> upload(uint64_t chunk);
  boost::asio::awaitable<void> flusher_loop();
  boost::asio::awaitable<void> maintenance_loop();
  // `resuming`: the one checkpoint allowed while writes are stopped (try_resume_blocking).
  core::Result<void> checkpoint_blocking(bool resuming = false);
  // Writes resume after a local failure (cached_lun_resume.cpp): the bounded probe loop.
  void start_resume_probe_locked();
  boost::asio::awaitable<void> resume_loop();
  bool try_resume_blocking();  // pool: true once writes are accepted again
  boost::asio::awaitable<core::Result<void>> save_index();
  boost::asio::awaitable<void> collect_garbage();
  boost::asio::awaitable<core::Result<OrphanReport>> collect_orphans();
  // The object names index/<seq> refers to (empty if seq is 0 or the index is gone).
  boost::asio::awaitable<core::Result<std::set<std::string>>> index_names(uint64_t seq);
  void evict_locked(uint64_t target_free);
  boost::asio::awaitable<void> sleep(std::chrono::milliseconds d);
  std::string sanitized() const;

  boost::asio::any_io_executor ex_;
  boost::asio::any_io_executor pool_;
  std::shared_ptr<core::ObjectStore> store_;
  LunConfig lun_;
  CacheConfig cfg_;
  std::shared_ptr<FileSystem> fs_;
  std::shared_ptr<Hooks> hooks_;
  ChunkCodec codec_;

  Uuid uuid_{};
  uint32_t block_size_ = 0;
  uint32_t chunk_blocks_ = 0;
  std::atomic<uint64_t> lun_blocks_{0};  // grows while running (grow())
  uint32_t pages_ = 0;
  bool capacity_changed_ = false;
  bool restored_local_ = false;
  std::atomic<bool> wce_{true};
  std::unique_ptr<WriteBatcher> batcher_;  // group commit of the writes (commit_writes)

  mutable std::mutex mu_;  // guards everything below up to the atomics
  std::unique_ptr<CacheState> state_;
  std::shared_ptr<File> data_;
  std::shared_ptr<File> journal_;
  uint64_t journal_gen_ = 0;
  uint64_t journal_off_ = 0;
  uint64_t next_seq_ = 1;
  uint64_t data_since_checkpoint_ = 0;
  bool failed_ = false;  // local I/O failure: the journal may have a hole, stop accepting writes
  std::error_code failed_errc_;  // what writes are refused with while failed_ (local_errc)
  core::RateLimit local_log_limit_{5, std::chrono::seconds(10)};
  core::RateLimit crc_log_limit_{5, std::chrono::seconds(10)};
  uint64_t lru_tick_ = 0;
  uint64_t index_seq_assigned_ = 0;
  bool index_dirty_ = false;
  std::chrono::steady_clock::time_point last_index_save_{};
  std::map<std::string, std::chrono::steady_clock::time_point> gc_since_;
  std::map<std::string, std::chrono::steady_clock::time_point> orphan_seen_;  // first unreferenced
  std::set<uint64_t> uploading_gens_;  // our uploads between their PUT and their commit
  std::map<std::pair<uint64_t, uint64_t>, std::shared_ptr<FetchSlot>> fetches_;
  std::array<core::Lba, 8> recent_ends_{};  // where the last reads end (stream detection)
  size_t recent_next_ = 0;
  CacheStats counters_;

  std::mutex durability_mu_;  // serializes fdatasync rounds and checkpoints (pool threads)
  uint64_t durable_seq_ = 0;  // records up to here are on stable storage (durability_mu_)

  std::atomic<bool> stopping_{false};
  std::atomic<int> loops_running_{0};
  std::atomic<int> uploads_in_flight_{0};
  std::atomic<int> fetches_in_flight_{0};
  std::atomic<int> drain_requests_{0};
  std::atomic<bool> kick_flusher_{false};
  std::atomic<bool> kick_maintenance_{false};
  std::atomic<bool> orphan_running_{false};
  std::atomic<bool> closed_{false};
  std::atomic<bool> store_healthy_{true};    // false after an upload failed, until one succeeds
  std::atomic<bool> index_saving_{false};    // save_index() runs one at a time
  std::atomic<bool> resume_running_{false};  // resume_loop() runs one at a time
};

}  // namespace swiftness::cache
