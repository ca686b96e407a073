#include "target/storage/uring.hpp"

#include <liburing.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <mutex>
#include <utility>
#include <vector>

namespace swiftness::storage {

namespace asio = boost::asio;

namespace {

struct Op {
  asio::any_completion_handler<void(ssize_t)> handler;
  asio::any_io_executor home;  // the handler's executor, where the result is delivered
};
using Completed = std::vector<std::pair<Op*, ssize_t>>;

// Results go back through the handler's own executor, never inline from the initiating call
// (Asio's rule); for an inline completion that is a post to the same io thread, not a hop.
void complete(Completed& done) {
  for (auto& [op, res] : done) {
    // Named: clang 14 cannot capture a structured binding.
    const ssize_t result = res;
    asio::post(op->home, [h = std::move(op->handler), result]() mutable { std::move(h)(result); });
    delete op;
  }
}

}  // namespace

struct UringQueue::Impl : std::enable_shared_from_this<UringQueue::Impl> {
  explicit Impl(asio::any_io_executor ex) : efd(std::move(ex)) {}
  ~Impl() { io_uring_queue_exit(&ring); }

  // The eventfd fires only for completions that did not happen inside the submit call
  // (io_uring_register_eventfd_async), so the fast path costs no wake-up. It is watched only
  // while such requests are out: an idle ring leaves the io_context nothing to wait for.
  // Requires mu.
  void watch_locked() {
    if (watching || in_flight == 0) return;
    watching = true;
    efd.async_read_some(asio::buffer(&efd_value, sizeof efd_value),
                        [w = weak_from_this()](boost::system::error_code ec, size_t) {
                          auto self = w.lock();
                          if (!self || ec == asio::error::operation_aborted) return;
                          Completed done;
                          {
                            std::lock_guard lock(self->mu);
                            self->watching = false;
                            self->reap_locked(done);
                            self->watch_locked();
                          }
                          complete(done);
                        });
  }

  void reap_locked(Completed& done) {
    io_uring_cqe* cqe = nullptr;
    while (io_uring_peek_cqe(&ring, &cqe) == 0) {
      done.emplace_back(static_cast<Op*>(io_uring_cqe_get_data(cqe)), ssize_t(cqe->res));
      io_uring_cqe_seen(&ring, cqe);
      --in_flight;
    }
  }

  void submit(Op* op, int fd, const std::byte* p, size_t n, off_t off, int rw_flags) {
    Completed done;
    {
      std::lock_guard lock(mu);
      io_uring_sqe* sqe = io_uring_get_sqe(&ring);
      if (!sqe) {
        // The submission queue is full of requests not yet handed to the kernel.
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
      }
      if (!sqe) {
        done.emplace_back(op, -EAGAIN);
      } else {
        io_uring_prep_write(sqe, fd, p, unsigned(n), uint64_t(off));
        sqe->rw_flags = rw_flags;
        io_uring_sqe_set_data(sqe, op);
        ++in_flight;
        // A failed submit leaves the request queued; it goes with the next one. Reaping makes
        // room when the kernel pushes back because completions are waiting.
        for (int attempt = 0; attempt < 3 && io_uring_submit(&ring) < 0; ++attempt)
          reap_locked(done);
      }
      reap_locked(done);
      watch_locked();
    }
    complete(done);
  }

  io_uring ring{};
  std::mutex mu;
  asio::posix::stream_descriptor efd;
  uint64_t efd_value = 0;
  size_t in_flight = 0;   // requests handed to the ring and not reaped yet
  bool watching = false;  // an eventfd read is outstanding
};

std::shared_ptr<UringQueue> UringQueue::create(asio::any_io_executor ex, unsigned entries) {
  auto impl = std::make_unique<Impl>(ex);
  if (io_uring_queue_init(entries, &impl->ring, 0) < 0) return nullptr;
  int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0 || io_uring_register_eventfd_async(&impl->ring, efd) < 0) {
    if (efd >= 0) ::close(efd);
    return nullptr;
  }
  impl->efd.assign(efd);
  return std::shared_ptr<UringQueue>(new UringQueue(std::move(impl)));
}

UringQueue::UringQueue(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

// Dropping the Impl closes the eventfd (its pending read ends with operation_aborted and finds
// the Impl gone) and the ring; a watcher running at that moment holds its own reference. No
// request is in flight then: the device outlives the commands that use it.
UringQueue::~UringQueue() = default;

asio::awaitable<ssize_t> UringQueue::write(int fd, const std::byte* p, size_t n, off_t off,
                                           int rw_flags) {
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>, void(ssize_t)>(
      [impl = impl_.get(), fd, p, n, off, rw_flags](auto handler) {
        asio::any_io_executor home =
            asio::get_associated_executor(handler, impl->efd.get_executor());
        impl->submit(new Op{std::move(handler), std::move(home)}, fd, p, n, off, rw_flags);
      },
      asio::use_awaitable);
}

}  // namespace swiftness::storage
