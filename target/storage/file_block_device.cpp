#include "target/storage/file_block_device.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "target/storage/blocking.hpp"

namespace swiftness::storage {

using boost::asio::awaitable;
using core::block_errc;
using core::Result;

namespace {

std::error_code errno_to_block(int e) {
  switch (e) {
    case ENOSPC:
    case EDQUOT:
      return block_errc::no_space;
    case EROFS:
    case EPERM:
    case EACCES:
      return block_errc::write_protected;
    case EIO:
      return block_errc::medium_error;
    default:
      return block_errc::io_error;
  }
}

// Loops over short transfers; pread/pwrite on regular files only return short at EOF or on a
// signal, but the loop keeps the contract exact.
Result<void> pread_all(int fd, std::byte* p, size_t n, off_t off) {
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, off);
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno_to_block(errno);
    }
    if (r == 0) {  // beyond EOF reads as zeros (cannot happen within the sized file)
      std::fill_n(p, n, std::byte{0});
      return {};
    }
    p += r, n -= size_t(r), off += r;
  }
  return {};
}

Result<void> pwrite_all(int fd, const std::byte* p, size_t n, off_t off, int rwf) {
  while (n > 0) {
    iovec iov{const_cast<std::byte*>(p), n};
    ssize_t r = ::pwritev2(fd, &iov, 1, off, rwf);
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno_to_block(errno);
    }
    p += r, n -= size_t(r), off += r;
  }
  return {};
}

// Large buffered writes go to the file in pieces of at most this many bytes, each aligned to a
// multiple of it. ext4 (Linux 6.16+) gives the page cache folios as large as the write that
// first brings a range in, and every later buffered write walks the buffer heads of the whole
// folio it lands in (ext4_block_write_begin, a quarter of the daemon's 4 KiB randwrite profile).
// Measured on a 256 MiB file: after 1 MiB writes a 4 KiB pwrite costs 22-30 us of CPU, after
// 64 KiB pieces 4.6-5.3 us, and 1 MiB overwrites in pieces cost 5-15 % more than whole ones.
// The header says which pages it does not help (those that came in through readahead).
constexpr size_t kWritePiece = 64 * 1024;

Result<void> pwrite_in_pieces(int fd, const std::byte* p, size_t n, off_t off) {
  while (n > 0) {
    const size_t piece = std::min(n, kWritePiece - size_t(off) % kWritePiece);
    if (auto r = pwrite_all(fd, p, piece, off, 0); !r) return r;
    p += piece, n -= piece, off += off_t(piece);
  }
  return {};
}

// One attempt that never waits for the disk: RWF_NOWAIT succeeds only when the whole transfer is
// served by the page cache (reads) or goes straight into it (writes), and fails with EAGAIN
// otherwise. Doing those on the io thread saves two thread hops per command, which is most of
// a cached 4 KiB command's latency; anything that would block still goes to the pool.
// Returns the bytes done (0 when the fast path does not apply).
// `unsupported` is set when the file system does not offer RWF_NOWAIT for this direction.
size_t try_nowait(int fd, const std::byte* p, size_t n, off_t off, bool write,
                  bool* unsupported = nullptr) {
  iovec iov{const_cast<std::byte*>(p), n};
  ssize_t r =
      write ? ::pwritev2(fd, &iov, 1, off, RWF_NOWAIT) : ::preadv2(fd, &iov, 1, off, RWF_NOWAIT);
  if (r < 0 && errno == EOPNOTSUPP && unsupported) *unsupported = true;
  return r > 0 ? size_t(r) : 0;
}

// Small transfers only: a large one costs more copying on the io thread than the hop saves.
constexpr size_t kInlineLimit = 64 * 1024;

}  // namespace

Result<std::shared_ptr<FileBlockDevice>> FileBlockDevice::open(
    const FileBlockDeviceOptions& o, boost::asio::any_io_executor blocking,
    boost::asio::any_io_executor io) {
  if ((o.block_size != 512 && o.block_size != 4096) || o.size_bytes < o.block_size ||
      o.size_bytes % o.block_size != 0)
    return std::make_error_code(std::errc::invalid_argument);
  int fd = ::open(o.path.c_str(), (o.read_only ? O_RDONLY : O_RDWR | O_CREAT) | O_CLOEXEC, 0600);
  if (fd < 0) return std::error_code(errno, std::generic_category());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    std::error_code ec(errno, std::generic_category());
    ::close(fd);
    return ec;
  }
  if (!o.read_only && uint64_t(st.st_size) < o.size_bytes &&
      ::ftruncate(fd, off_t(o.size_bytes)) != 0) {
    std::error_code ec(errno, std::generic_category());
    ::close(fd);
    return ec;
  }
  // Thick: reserve every block now so a write never fails with ENOSPC later.
  if (!o.thin && !o.read_only && ::fallocate(fd, 0, 0, off_t(o.size_bytes)) != 0) {
    std::error_code ec(errno, std::generic_category());
    ::close(fd);
    return ec;
  }
  core::BlockGeometry g;
  g.block_size = o.block_size;
  g.block_count = o.size_bytes / o.block_size;
  g.physical_block_exponent = 0;
  if (o.physical_block_size > o.block_size && o.physical_block_size % o.block_size == 0)
    g.physical_block_exponent = uint32_t(std::countr_zero(o.physical_block_size / o.block_size));
  g.optimal_transfer_blocks = (1u << 20) / o.block_size;
  g.max_transfer_blocks = o.max_transfer_bytes / o.block_size;
  g.thin = o.thin;
  g.read_only = o.read_only;
  g.non_rotational = true;
  if (o.thin) {
    g.unmap_granularity_blocks = 4096 / o.block_size;
    g.max_unmap_blocks = uint32_t(std::min<uint64_t>(g.block_count, 0xffffffffu));
    g.max_unmap_descriptors = 256;
  }
  std::shared_ptr<UringQueue> uring;
  // SWIFTNESS_FILE_URING=0 keeps small writes on the pool (A/B measurements, odd kernels).
  const char* use_uring = std::getenv("SWIFTNESS_FILE_URING");
  if (io && !o.read_only && !(use_uring && std::string_view(use_uring) == "0"))
    uring = UringQueue::create(io);
  return std::shared_ptr<FileBlockDevice>(
      new FileBlockDevice(fd, g, std::move(blocking), std::move(uring)));
}

FileBlockDevice::~FileBlockDevice() {
  ::close(fd_);
}

awaitable<Result<void>> FileBlockDevice::read(core::Lba lba, std::span<std::byte> buf) {
  const off_t off = off_t(lba * geometry_.block_size);
  size_t done =
      buf.size() <= kInlineLimit ? try_nowait(fd_, buf.data(), buf.size(), off, false) : 0;
  if (done == buf.size()) co_return Result<void>{};
  buf = buf.subspan(done);
  co_return co_await run_blocking(blocking_, [fd = fd_, buf, off = off + off_t(done)] {
    return pread_all(fd, buf.data(), buf.size(), off);
  });
}

awaitable<Result<void>> FileBlockDevice::write(core::Lba lba, std::span<const std::byte> buf,
                                               core::WriteFlags flags) {
  if (geometry_.read_only) co_return block_errc::write_protected;
  off_t off = off_t(lba * geometry_.block_size);
  if (!flags.fua && buf.size() <= kInlineLimit && uring_ &&
      uring_on_.load(std::memory_order_relaxed)) {
    // RWF_NOWAIT: done inside the submit call, or -EAGAIN and the pool below. Without it the
    // kernel would hand what cannot be done at once to its io-wq workers; on ext4 that is every
    // buffered write, and costs more than our pool (4 KiB randwrite QD 1: 8.5 vs 6.6 context
    // switches per command). A short or failed write finishes (or fails for good) on the pool.
    const ssize_t r = co_await uring_->write(fd_, buf.data(), buf.size(), off, RWF_NOWAIT);
    note_uring_result(r == ssize_t(buf.size()));
    if (r == ssize_t(buf.size())) co_return Result<void>{};
    if (r > 0) {
      buf = buf.subspan(size_t(r));
      off += off_t(r);
    }
  } else if (!flags.fua && buf.size() <= kInlineLimit &&
             nowait_writes_.load(std::memory_order_relaxed)) {
    bool unsupported = false;
    size_t done = try_nowait(fd_, buf.data(), buf.size(), off, true, &unsupported);
    if (unsupported) nowait_writes_.store(false, std::memory_order_relaxed);
    if (done == buf.size()) co_return Result<void>{};
    buf = buf.subspan(done);
    off += off_t(done);
  }
  co_return co_await run_blocking(blocking_, [this, buf, off, fua = flags.fua]() -> Result<void> {
    // FUA: RWF_DSYNC makes this one write durable (data and the metadata to find it), like
    // fdatasync but without syncing unrelated dirty pages.
    // (FUA writes stay whole: one RWF_DSYNC per piece would sync many times.)
    auto r = fua ? pwrite_all(fd_, buf.data(), buf.size(), off, RWF_DSYNC)
                 : pwrite_in_pieces(fd_, buf.data(), buf.size(), off);
    if (!r && fua && r.error() == block_errc::io_error) {
      // Kernels without RWF_DSYNC for this file system: plain write, then fdatasync.
      r = pwrite_all(fd_, buf.data(), buf.size(), off, 0);
      if (r && ::fdatasync(fd_) != 0) r = errno_to_block(errno);
    }
    if (r && fua) syncs_.fetch_add(1, std::memory_order_relaxed);
    return r;
  });
}

void FileBlockDevice::note_uring_result(bool done_inline) {
  const uint64_t tries = uring_tries_.fetch_add(1, std::memory_order_relaxed) + 1;
  const uint64_t ok = (done_inline ? uring_inline_.fetch_add(1, std::memory_order_relaxed) + 1
                                   : uring_inline_.load(std::memory_order_relaxed));
  // Each refusal costs a system call before the pool: once the file system has shown it
  // refuses nearly all of them, stop asking.
  if (tries == kUringProbeWrites && ok * 8 < tries)
    uring_on_.store(false, std::memory_order_relaxed);
}

awaitable<Result<void>> FileBlockDevice::flush(core::LbaRange) {
  co_return co_await run_blocking(blocking_, [this]() -> Result<void> {
    if (::fdatasync(fd_) != 0) return errno_to_block(errno);
    syncs_.fetch_add(1, std::memory_order_relaxed);
    return {};
  });
}

awaitable<Result<void>> FileBlockDevice::unmap(std::span<const core::LbaRange> ranges) {
  if (geometry_.read_only) co_return block_errc::write_protected;
  // The caller's span stays valid while this coroutine is suspended. Lambdas passed to
  // run_blocking capture only trivially destructible values: GCC 12 destroys non-trivial
  // temporaries of a co_await full-expression twice.
  co_return co_await run_blocking(blocking_, [this, copy = ranges]() -> Result<void> {
    const uint64_t bs = geometry_.block_size;
    for (const auto& r : copy) {
      if (r.count == 0) continue;
      // KEEP_SIZE: the LUN does not shrink; the punched range reads back as zeros.
      if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off_t(r.lba * bs),
                      off_t(r.count * bs)) != 0)
        return errno_to_block(errno);
    }
    return {};
  });
}

awaitable<Result<core::LbaStatus>> FileBlockDevice::lba_status(core::Lba lba) {
  const uint64_t count = block_count_.load(std::memory_order_acquire);
  if (lba >= count) co_return block_errc::out_of_range;
  // A thick file is allocated end to end. (Its fallocated-but-unwritten extents may look like
  // holes to SEEK_DATA on some file systems; they are still provisioned.)
  if (!geometry_.thin) co_return core::LbaStatus{{lba, count - lba}, true};
  co_return co_await run_blocking(blocking_, [this, lba, count]() -> Result<core::LbaStatus> {
    const uint64_t bs = geometry_.block_size;
    const uint64_t end_bytes = count * bs;
    const off_t off = off_t(lba * bs);
    off_t data = ::lseek(fd_, off, SEEK_DATA);
    if (data < 0 && errno != ENXIO) return errno_to_block(errno);
    if (data < 0 || uint64_t(data) >= end_bytes) {  // a hole to the end of the LUN
      return core::LbaStatus{{lba, count - lba}, false};
    }
    if (data > off) {
      // Hole up to the block holding the next data; a partially allocated block counts as
      // mapped, so round the hole down.
      uint64_t first_data_block = uint64_t(data) / bs;
      if (first_data_block > lba) return core::LbaStatus{{lba, first_data_block - lba}, false};
    }
    off_t hole = ::lseek(fd_, off, SEEK_HOLE);
    if (hole < 0) return errno_to_block(errno);
    uint64_t hole_block = std::min<uint64_t>((uint64_t(hole) + bs - 1) / bs, count);
    if (hole_block <= lba) hole_block = lba + 1;
    return core::LbaStatus{{lba, hole_block - lba}, true};
  });
}

awaitable<Result<void>> FileBlockDevice::grow(uint64_t size_bytes) {
  const uint64_t bs = geometry_.block_size;
  const uint64_t old_count = block_count_.load(std::memory_order_acquire);
  if (size_bytes % bs != 0 || size_bytes / bs < old_count)
    co_return std::make_error_code(std::errc::invalid_argument);
  if (size_bytes / bs == old_count) co_return Result<void>{};
  if (geometry_.read_only) co_return block_errc::write_protected;
  const bool thick = !geometry_.thin;
  auto sized = co_await run_blocking(blocking_, [this, bs, old_count, size_bytes, thick]() {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return errno_to_block(errno);
    if (uint64_t(st.st_size) < size_bytes && ::ftruncate(fd_, off_t(size_bytes)) != 0)
      return errno_to_block(errno);
    const uint64_t from = old_count * bs;
    if (thick && ::fallocate(fd_, 0, off_t(from), off_t(size_bytes - from)) != 0)
      return errno_to_block(errno);
    // The new size must survive a crash before an initiator is told about it.
    if (::fsync(fd_) != 0) return errno_to_block(errno);
    return std::error_code{};
  });
  if (sized) co_return sized;
  block_count_.store(size_bytes / bs, std::memory_order_release);
  co_return Result<void>{};
}

}  // namespace swiftness::storage
