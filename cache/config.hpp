// Configuration of one Swift-backed LUN and of its local cache (issue 5, "Wiring").
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

namespace swiftness::cache {

struct LunConfig {
  std::string container;           // one container per LUN, created if missing
  uint64_t size_bytes = 0;         // must be a multiple of block_size
  uint32_t block_size = 512;       // 512 or 4096
  uint32_t chunk_size = 4u << 20;  // 1..64 MiB, a multiple of block_size
  bool compression = false;        // zstd per chunk object
  int compression_level = 1;
  std::string storage_policy;  // applied when the container is created
  uint32_t writer_epoch = 0;   // reserved for single-writer leases (fencing); 0 for now
};

struct CacheConfig {
  std::filesystem::path dir;           // cache files live here, named after the container
  uint64_t size_bytes = 1ull << 30;    // preallocated cache file
  double dirty_low_watermark = 0.25;   // above: the flusher uploads eagerly
  double dirty_high_watermark = 0.75;  // above: new writes wait (bounded)
  unsigned flush_concurrency = 4;      // chunk uploads in flight
  unsigned fetch_concurrency = 8;      // chunk downloads in flight (misses + read-ahead)
  unsigned read_ahead_chunks = 8;      // for sequential reads (as many as fetch_concurrency)
  std::chrono::milliseconds max_dirty_age{30'000};     // dirty data is uploaded within this
  std::chrono::milliseconds write_wait_limit{20'000};  // bounded wait under backpressure
  // A read that needs Swift (a cold read) waits at most this long, retries included, then
  // fails with NOT READY: under Linux's 30 s SCSI command timeout, so the initiator sees an
  // error instead of aborting the command and resetting the LUN (issue 8).
  std::chrono::milliseconds read_wait_limit{20'000};
  std::chrono::milliseconds gc_grace{60'000};       // superseded objects live this long after
  std::chrono::milliseconds index_interval{5'000};  // Swift index checkpoint debounce
  // Orphans (objects no index names, found by listing): deleted once unreferenced this long.
  std::chrono::milliseconds orphan_grace{15 * 60'000};
  std::chrono::milliseconds orphan_interval{30 * 60'000};  // listing pass period; 0: never
  uint64_t checkpoint_journal_bytes = 16ull << 20;  // local checkpoint when the journal grows
  uint64_t checkpoint_data_bytes = 256ull << 20;    // ... or this much data was written (replay
                                                    // re-reads it to check it: bounded restart)
  bool write_cache_enabled = true;                  // SCSI caching page WCE (initial value)
  // After a cache-file failure stopped writes: first probe of the file system after this, then
  // twice as long each time up to a minute; writes resume once a probe succeeds. 0: never (a
  // restart resumes them).
  std::chrono::milliseconds resume_probe_interval{5'000};
  // O_DIRECT for cache-file writes (design.md §4: faster random overwrites). Off by default:
  // direct writes leave nothing in the page cache, and without an in-memory block cache of
  // our own the next hit would read the SSD (cache-bench: 5x slower hot reads).
  bool direct_writes = false;
};

}  // namespace swiftness::cache
