#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <string>
#include <system_error>

#include "cache/file_system.hpp"

namespace swiftness::cache {
namespace {

std::error_code errno_code() {
  return {errno, std::generic_category()};
}

class PosixFile final : public File {
 public:
  PosixFile(int fd, std::string path, bool direct)
      : fd_(fd), path_(std::move(path)), direct_writes_(direct) {}
  ~PosixFile() override {
    ::close(fd_);
    if (direct_fd_ >= 0) ::close(direct_fd_);
  }

  core::Result<void> pwrite(uint64_t offset, std::span<const std::byte> data) override {
    return write_all(offset, data, direct_writes_);
  }

  core::Result<void> pwrite_uncached(uint64_t offset, std::span<const std::byte> data) override {
    return write_all(offset, data, true);
  }

  core::Result<void> pread(uint64_t offset, std::span<std::byte> out) override {
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = ::pread(fd_, out.data() + done, out.size() - done, off_t(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_code();
      }
      if (n == 0) {
        std::fill(out.begin() + done, out.end(), std::byte{0});
        break;
      }
      done += size_t(n);
    }
    return {};
  }

  bool pread_nowait(uint64_t offset, std::span<std::byte> out) override {
    // RWF_NOWAIT (Linux 4.14): EAGAIN instead of waiting for the disk; a short read (part of
    // the range cached, or the end of the file) goes to the blocking pread, which zero-fills.
    iovec iov{out.data(), out.size()};
    return ::preadv2(fd_, &iov, 1, off_t(offset), RWF_NOWAIT) == ssize_t(out.size());
  }

  core::Result<void> sync() override {
    if (::fdatasync(fd_) != 0) return errno_code();
    return {};
  }

  core::Result<uint64_t> size() override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return errno_code();
    return uint64_t(st.st_size);
  }

  core::Result<void> preallocate(uint64_t bytes) override {
    int r = ::posix_fallocate(fd_, 0, off_t(bytes));
    if (r == EOPNOTSUPP || r == EINVAL) {
      if (::ftruncate(fd_, off_t(bytes)) != 0) return errno_code();
      return {};
    }
    if (r != 0) return std::error_code(r, std::generic_category());
    return {};
  }

 private:
  // design.md §4: O_DIRECT avoids the buffered-overwrite stall measured on ext4; it needs
  // aligned buffer, offset and length, and some file systems (tmpfs) refuse it altogether:
  // then, and for anything unaligned, the write is buffered.
  core::Result<void> write_all(uint64_t offset, std::span<const std::byte> data, bool direct) {
    int fd = fd_;
    bool aligned = (reinterpret_cast<uintptr_t>(data.data()) % 512) == 0 && offset % 512 == 0 &&
                   data.size() % 512 == 0;
    if (direct && aligned && direct_ok_.load(std::memory_order_relaxed) && direct_fd() >= 0) {
      fd = direct_fd_;
    }
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, off_t(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EINVAL && fd == direct_fd_) {
          direct_ok_.store(false, std::memory_order_relaxed);  // medium refuses: buffered
          fd = fd_;
          continue;
        }
        return errno_code();
      }
      done += size_t(n);
    }
    return {};
  }

  // Opened on first use: only the data file ever writes around the page cache.
  int direct_fd() {
    std::call_once(direct_once_, [this] {
      direct_fd_ = ::open(path_.c_str(), O_RDWR | O_CLOEXEC | O_DIRECT);  // -1: buffered only
    });
    return direct_fd_;
  }

  int fd_;
  std::string path_;
  bool direct_writes_;  // pwrite() too, not only pwrite_uncached()
  int direct_fd_ = -1;
  std::once_flag direct_once_;
  std::atomic<bool> direct_ok_{true};
};

class PosixFileSystem final : public FileSystem {
 public:
  explicit PosixFileSystem(std::filesystem::path dir) : dir_(std::move(dir)) {}

  core::Result<std::unique_ptr<File>> open(const std::string& name, bool create,
                                           bool direct) override {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    auto path = (dir_ / name).string();
    int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0);
    int fd = ::open(path.c_str(), flags, 0600);
    if (fd < 0) return errno_code();
    return std::unique_ptr<File>(new PosixFile(fd, std::move(path), direct));
  }

  bool exists(const std::string& name) override {
    std::error_code ec;
    return std::filesystem::exists(dir_ / name, ec);
  }

  core::Result<void> rename(const std::string& from, const std::string& to) override {
    if (::rename((dir_ / from).c_str(), (dir_ / to).c_str()) != 0) return errno_code();
    return {};
  }

  core::Result<void> remove(const std::string& name) override {
    if (::unlink((dir_ / name).c_str()) != 0 && errno != ENOENT) return errno_code();
    return {};
  }

  core::Result<void> sync_dir() override {
    int fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno_code();
    int r = ::fsync(fd);
    ::close(fd);
    if (r != 0) return errno_code();
    return {};
  }

 private:
  std::filesystem::path dir_;
};

}  // namespace

std::shared_ptr<FileSystem> make_posix_file_system(const std::filesystem::path& dir) {
  return std::make_shared<PosixFileSystem>(dir);
}

}  // namespace swiftness::cache
