// Growing a LUN while it is in use. Swift's lun.meta is the record every attach checks (a
// configuration smaller than it is refused as a shrink), so it is written first: if the gateway
// dies right after, the next attach with the grown configuration finds a matching size, and
// nothing was ever acknowledged past the old end.
#include <boost/asio/co_spawn.hpp>

#include "cache/blocking.hpp"
#include "cache/cached_lun.hpp"
#include "core/log.hpp"

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace swiftness::cache {

using core::block_errc;
using core::Result;
namespace asio = boost::asio;

asio::awaitable<Result<void>> CachedLun::grow(uint64_t size_bytes) {
  auto log = core::logger("cache");
  const uint64_t old_blocks = lun_blocks_.load();
  if (size_bytes == 0 || size_bytes % block_size_ != 0) {
    log->error("{}: cannot grow to {} bytes: not a whole number of {}-byte blocks", lun_.container,
               size_bytes, block_size_);
    co_return std::make_error_code(std::errc::invalid_argument);
  }
  const uint64_t blocks = size_bytes / block_size_;
  if (blocks < old_blocks) {
    log->error("{}: shrinking from {} to {} bytes is refused", lun_.container,
               old_blocks * block_size_, size_bytes);
    co_return std::make_error_code(std::errc::invalid_argument);
  }
  if (blocks == old_blocks) co_return Result<void>{};
  if (stopping_) co_return block_errc::unavailable;

  // The same object attach_meta() reads (cached_lun_open.cpp).
  const core::ObjectKey key{lun_.container, "lun.meta"};
  core::GetOptions newest;
  newest.newest = true;
  auto got = co_await store_->get(key, newest);
  if (!got) {
    log->error("{}: cannot read lun.meta to grow: {}", lun_.container, got.error().message());
    co_return block_errc::unavailable;
  }
  auto meta = decode_lun_meta(got->body);
  if (!meta || meta->uuid != uuid_) {
    log->error("{}: lun.meta no longer describes this LUN: not growing", lun_.container);
    co_return block_errc::medium_error;
  }
  if (meta->size_bytes < size_bytes) {
    meta->size_bytes = size_bytes;
    const std::string text = encode_lun_meta(*meta);
    const core::PutOptions overwrite;
    const auto body = std::as_bytes(std::span(text.data(), text.size()));
    if (auto put = co_await store_->put(key, body, overwrite); !put) {
      log->error("{}: cannot write lun.meta: {}", lun_.container, put.error().message());
      co_return block_errc::unavailable;
    }
  }
  {
    std::lock_guard lock(mu_);
    state_->set_lun_blocks(blocks);
    index_dirty_ = true;  // the Swift index records the LUN's block count too
  }
  lun_blocks_.store(blocks);
  log->info("{}: grown from {} to {} bytes", lun_.container, old_blocks * block_size_, size_bytes);
  // The local checkpoint header carries the geometry as well; a failure here leaves the journal
  // (and lun.meta) in charge, which is still correct.
  if (auto c = co_await run_blocking(pool_, [this]() { return checkpoint_blocking(); }); !c)
    log->warn("{}: checkpoint after growing failed: {}", lun_.container, c.error().message());
  co_return Result<void>{};
}

}  // namespace swiftness::cache
