// The cache's view of its local files, so tests can substitute a file system that remembers
// what was synced and drops the rest on a simulated power loss (design.md §4, RocksDB's
// FaultInjectionTestFS). All calls block: run them on the blocking pool.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "core/result.hpp"

namespace swiftness::cache {

class File {
 public:
  virtual ~File() = default;
  // Whole transfers or an error; a short read past the end zero-fills the rest.
  virtual core::Result<void> pwrite(uint64_t offset, std::span<const std::byte> data) = 0;
  // The same write, but around the page cache (O_DIRECT) where the buffer, offset and length
  // are aligned (kDirectAlignment) and the medium allows it, else buffered. For bytes that are
  // not about to be read again from the file: filling the page cache costs more CPU than the
  // write itself (a cold read of 1 GiB spent half its CPU there), and would push out pages
  // that are.
  virtual core::Result<void> pwrite_uncached(uint64_t offset, std::span<const std::byte> data) {
    return pwrite(offset, data);
  }
  virtual core::Result<void> pread(uint64_t offset, std::span<std::byte> out) = 0;
  // The same read, but only if it completes without waiting for the device (the pages are in
  // the page cache): true when `out` is filled, false when it would block or the file cannot
  // tell. Never blocks, so the io threads may call it (a hit then skips two thread hops).
  virtual bool pread_nowait(uint64_t /*offset*/, std::span<std::byte> /*out*/) { return false; }
  // fdatasync: everything written before the call is on stable storage when it returns.
  virtual core::Result<void> sync() = 0;
  virtual core::Result<uint64_t> size() = 0;
  // Grows the file to `bytes` with allocated blocks (fallocate), so writes never hit ENOSPC.
  virtual core::Result<void> preallocate(uint64_t bytes) = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // `direct`: data writes bypass the page cache (O_DIRECT) where the medium allows it, for
  // aligned buffers; reads still go through the page cache, which keeps hot data in memory.
  virtual core::Result<std::unique_ptr<File>> open(const std::string& name, bool create,
                                                   bool direct) = 0;
  virtual bool exists(const std::string& name) = 0;
  // Atomic replace; durable after sync_dir().
  virtual core::Result<void> rename(const std::string& from, const std::string& to) = 0;
  virtual core::Result<void> remove(const std::string& name) = 0;
  virtual core::Result<void> sync_dir() = 0;
};

// Files in one directory (created if missing).
std::shared_ptr<FileSystem> make_posix_file_system(const std::filesystem::path& dir);

// Alignment for buffers handed to pwrite on a direct file.
inline constexpr size_t kDirectAlignment = 4096;

}  // namespace swiftness::cache
