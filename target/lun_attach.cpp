#include "target/lun_attach.hpp"

#include <filesystem>

#include "cache/cached_lun.hpp"
#include "core/log.hpp"
#include "target/lun_identity.hpp"
#include "target/storage/file_block_device.hpp"

namespace asio = boost::asio;

namespace swiftness::target {
namespace {

cache::CacheConfig cache_config(const config::Config& c, uint64_t share, bool wce) {
  cache::CacheConfig o;
  o.dir = c.cache.path;
  o.size_bytes = share;
  o.dirty_high_watermark = c.cache.dirty_high_watermark;
  o.dirty_low_watermark = c.cache.dirty_low_watermark;
  o.flush_concurrency = c.cache.flush_concurrency;
  o.max_dirty_age = std::chrono::seconds(c.cache.max_dirty_age_s);
  o.fetch_concurrency = c.cache.fetch_concurrency;
  o.read_ahead_chunks = c.cache.read_ahead_chunks;
  o.write_wait_limit = std::chrono::seconds(c.cache.write_wait_limit_s);
  o.read_wait_limit = std::chrono::seconds(c.cache.read_wait_limit_s);
  o.index_interval = std::chrono::milliseconds(c.cache.index_interval_ms);
  o.gc_grace = std::chrono::seconds(c.cache.gc_grace_s);
  o.orphan_grace = std::chrono::seconds(c.cache.orphan_grace_s);
  o.orphan_interval = std::chrono::seconds(c.cache.orphan_interval_s);
  o.checkpoint_journal_bytes = c.cache.checkpoint_journal;
  o.checkpoint_data_bytes = c.cache.checkpoint_data;
  o.write_cache_enabled = wce;
  return o;
}

}  // namespace

uint64_t cache_share(const config::Config& cfg) {
  uint64_t n = 0;
  for (const auto& lun : cfg.luns)
    n += lun.backend == config::Backend::swift;
  return cfg.cache.size / std::max<uint64_t>(1, n);
}

asio::awaitable<core::Result<AttachedLun>> attach_lun(const AttachContext& ctx,
                                                      const config::Config& cfg,
                                                      const config::Lun& lun, uint64_t share) {
  auto log = core::logger("main");
  AttachedLun out;
  out.config = lun;
  scsi::LogicalUnitSpec& spec = out.spec;
  spec.lun = lun.id;
  spec.product = "Swiftness";
  spec.state_dir = (std::filesystem::path(cfg.state_dir) / "luns" / lun.name).string();
  spec.write_cache = lun.write_cache;
  std::shared_ptr<core::BlockDevice> device;
  if (lun.backend == config::Backend::file) {
    auto id = load_or_create_identity(cfg.state_dir, lun.name);
    if (!id) {
      log->error("LUN {}: cannot keep its identity under {}: {}", lun.name, cfg.state_dir,
                 id.error().message());
      co_return id.error();
    }
    spec.serial = lun.serial.empty() ? id->serial : lun.serial;
    spec.naa_id = id->naa;
    storage::FileBlockDeviceOptions fo;
    fo.path = lun.path;
    fo.size_bytes = lun.size;
    fo.block_size = lun.block_size;
    fo.physical_block_size = lun.physical_block_size;
    fo.thin = lun.thin;
    fo.read_only = lun.read_only;
    auto dev = storage::FileBlockDevice::open(fo, ctx.blocking, ctx.io);
    if (!dev) {
      log->error("{}:{}: LUN {}: cannot open {}: {}", cfg.file, lun.line, lun.name, lun.path,
                 dev.error().message());
      co_return dev.error();
    }
    device = *dev;
    out.file = *dev;
  } else {
    if (!ctx.store) co_return std::make_error_code(std::errc::invalid_argument);
    cache::LunConfig lc;
    lc.container = lun.container;
    lc.size_bytes = lun.size;
    lc.block_size = lun.block_size;
    lc.chunk_size = uint32_t(lun.chunk_size);
    lc.compression = lun.compression == "zstd";
    lc.storage_policy = lun.storage_policy;
    auto cc = cache_config(cfg, share, lun.write_cache);
    // Named first: GCC 12 destroys temporaries in a co_await expression twice (the default
    // argument of open() is one).
    cache::CachedLunOptions options;
    // Pause points for the crash soak (tests/soak), from SWIFTNESS_PAUSE_AT; none when unset.
    options.hooks = cache::Hooks::from_environment();
    auto opening = cache::CachedLun::open(ctx.io, ctx.blocking, ctx.store, lc, cc, options);
    auto opened = co_await std::move(opening);
    if (!opened) {
      log->error("{}:{}: LUN {}: cannot attach container {}: {}", cfg.file, lun.line, lun.name,
                 lun.container, opened.error().message());
      co_return opened.error();
    }
    // The identity lives in the LUN's metadata in Swift: a fresh gateway shows the same disk.
    auto id = identity_from_bytes((*opened)->uuid());
    spec.serial = lun.serial.empty() ? id.serial : lun.serial;
    spec.naa_id = id.naa;
    device = *opened;
    out.cached = *opened;
  }
  spec.device = ctx.wrap ? ctx.wrap(lun, device, out.cached) : device;
  std::error_code ec;
  std::filesystem::create_directories(spec.state_dir, ec);
  log->info("LUN {} ({}): {} bytes, {}-byte blocks, {}", lun.id, lun.name, lun.size, lun.block_size,
            lun.backend == config::Backend::file ? lun.path : lun.container);
  co_return out;
}

}  // namespace swiftness::target
