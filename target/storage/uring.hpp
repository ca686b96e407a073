// File writes through io_uring, completed on the caller's executor. Buffered writes the kernel
// can do without blocking complete inside the submit call, so the command continues on the
// same io thread with no thread hop; the rest run on the kernel's io-wq workers and come back
// through an eventfd the io_context watches (with RWF_NOWAIT they fail with -EAGAIN instead).
// On file systems without non-blocking buffered writes (ext4, Linux 6.18) io_uring punts every
// buffered write to io-wq, which costs more than a thread pool: see FileBlockDevice::write. One
// ring per file, shared by the io threads under a mutex held only for submission and reaping.
#pragma once

#include <sys/types.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <memory>

namespace swiftness::storage {

class UringQueue {
 public:
  // nullptr when io_uring is not available (old kernel, seccomp, io_uring_disabled): the
  // caller keeps its thread-pool path.
  static std::shared_ptr<UringQueue> create(boost::asio::any_io_executor ex,
                                            unsigned entries = 128);
  ~UringQueue();
  UringQueue(const UringQueue&) = delete;
  UringQueue& operator=(const UringQueue&) = delete;

  // pwritev2(fd, p, n, off, rw_flags) as one request: the bytes written, or -errno. The buffer
  // must stay valid until the result arrives.
  boost::asio::awaitable<ssize_t> write(int fd, const std::byte* p, size_t n, off_t off,
                                        int rw_flags);

 private:
  struct Impl;
  explicit UringQueue(std::unique_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace swiftness::storage
