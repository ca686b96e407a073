#include "target/serve.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <thread>

#include "cache/cached_lun.hpp"
#include "config/config.hpp"
#include "core/log.hpp"
#include "swift/swift_store.hpp"
#include "target/admin_service.hpp"
#include "target/iscsi/server.hpp"
#include "target/lun_identity.hpp"
#include "target/scsi/logical_unit.hpp"
#include "target/storage/file_block_device.hpp"
#include "target/swift_wiring.hpp"

namespace asio = boost::asio;

namespace swiftness::target {
namespace {

void print_diagnostics(const config::LoadResult& r) {
  for (const auto& w : r.warnings)
    std::cerr << "warning: " << w.to_string() << "\n";
  for (const auto& e : r.errors)
    std::cerr << "error: " << e.to_string() << "\n";
}

iscsi::TargetConfig target_config(const config::Config& c) {
  iscsi::TargetConfig t;
  auto& l = t.login;
  l.target_name = c.target.iqn;
  l.target_alias = c.target.alias;
  if (c.target.chap) l.chap = iscsi::ChapCredentials{c.target.chap->user, c.target.chap->secret};
  if (c.target.mutual_chap)
    l.mutual_chap =
        iscsi::ChapCredentials{c.target.mutual_chap->user, c.target.mutual_chap->secret};
  l.discovery_chap = c.target.discovery_chap;
  l.allowed_initiators = c.target.allowed_initiators;
  for (const auto& p : c.target.portals)
    t.portals.push_back({p.address, p.port});
  t.max_connections = c.target.max_connections;
  t.timeouts.login = std::chrono::milliseconds(c.target.login_timeout_ms);
  t.timeouts.nop_interval = std::chrono::milliseconds(c.target.nop_interval_ms);
  t.timeouts.nop_timeout = std::chrono::milliseconds(c.target.nop_timeout_ms);
  return t;
}

// The configured cache is shared out evenly: each Swift LUN gets its own cache file.
cache::CacheConfig cache_config(const config::Config& c, size_t swift_luns, bool wce) {
  cache::CacheConfig o;
  o.dir = c.cache.path;
  o.size_bytes = c.cache.size / std::max<size_t>(1, swift_luns);
  o.dirty_high_watermark = c.cache.dirty_high_watermark;
  o.dirty_low_watermark = c.cache.dirty_low_watermark;
  o.flush_concurrency = c.cache.flush_concurrency;
  o.max_dirty_age = std::chrono::seconds(c.cache.max_dirty_age_s);
  o.write_cache_enabled = wce;
  return o;
}

}  // namespace

int check_config(const std::string& path) {
  auto r = config::load_file(path);
  print_diagnostics(r);
  if (!r.config) return 2;
  std::cout << path << ": OK (" << r.config->luns.size() << " LUNs)\n";
  return 0;
}

int serve(const ServeOptions& opts) {
  auto loaded = config::load_file(opts.config_path);
  print_diagnostics(loaded);
  if (!loaded.config) return 2;
  const config::Config& cfg = *loaded.config;
  core::set_log_level(cfg.log_level);
  auto log = core::logger("main");

  unsigned threads =
      opts.io_threads ? opts.io_threads : std::max(1u, std::thread::hardware_concurrency());
  asio::io_context io{int(threads)};
  asio::thread_pool blocking(4);  // pread/pwrite/fdatasync never run on the io threads
  // The io threads run from the start: opening a Swift LUN talks to Swift.
  auto work = asio::make_work_guard(io);
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < threads; ++i)
    pool.emplace_back([&io] { io.run(); });
  auto finish = [&](int code) {
    work.reset();
    io.stop();
    for (auto& t : pool)
      t.join();
    blocking.join();
    return code;
  };

  size_t swift_luns = 0;
  for (const auto& lun : cfg.luns)
    swift_luns += lun.backend == config::Backend::swift;
  AdminService admin(cfg, io.get_executor());
  std::shared_ptr<swift::SwiftStore> store;
  if (swift_luns) {
    auto sc = swift_config(*cfg.swift);
    sc.metrics = admin.swift_metrics();
    store = std::make_shared<swift::SwiftStore>(io.get_executor(), std::move(sc));
  }
  std::vector<std::shared_ptr<cache::CachedLun>> cached;

  std::vector<scsi::LogicalUnitSpec> lus;
  for (const auto& lun : cfg.luns) {
    scsi::LogicalUnitSpec spec;
    spec.lun = lun.id;
    spec.product = "Swiftness";
    spec.state_dir = (std::filesystem::path(cfg.state_dir) / "luns" / lun.name).string();
    spec.write_cache = lun.write_cache;
    if (lun.backend == config::Backend::file) {
      auto id = load_or_create_identity(cfg.state_dir, lun.name);
      if (!id) {
        log->error("LUN {}: cannot keep its identity under {}: {}", lun.name, cfg.state_dir,
                   id.error().message());
        return finish(1);
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
      auto dev = storage::FileBlockDevice::open(fo, blocking.get_executor());
      if (!dev) {
        log->error("{}:{}: LUN {}: cannot open {}: {}", cfg.file, lun.line, lun.name, lun.path,
                   dev.error().message());
        return finish(1);
      }
      spec.device = admin.attach_lun(lun, *dev, nullptr);
    } else {
      cache::LunConfig lc;
      lc.container = lun.container;
      lc.size_bytes = lun.size;
      lc.block_size = lun.block_size;
      lc.chunk_size = uint32_t(lun.chunk_size);
      lc.compression = lun.compression == "zstd";
      lc.storage_policy = lun.storage_policy;
      auto opening = cache::CachedLun::open(io.get_executor(), blocking.get_executor(), store, lc,
                                            cache_config(cfg, swift_luns, lun.write_cache));
      auto opened = asio::co_spawn(io, std::move(opening), asio::use_future).get();
      if (!opened) {
        log->error("{}:{}: LUN {}: cannot attach container {}: {}", cfg.file, lun.line, lun.name,
                   lun.container, opened.error().message());
        return finish(1);
      }
      // The identity lives in the LUN's metadata in Swift: a fresh gateway shows the same disk.
      auto id = identity_from_bytes((*opened)->uuid());
      spec.serial = lun.serial.empty() ? id.serial : lun.serial;
      spec.naa_id = id.naa;
      spec.device = admin.attach_lun(lun, *opened, *opened);
      cached.push_back(*opened);
    }
    std::error_code ec;
    std::filesystem::create_directories(spec.state_dir, ec);
    log->info("LUN {} ({}): {} bytes, {}-byte blocks, {}", lun.id, lun.name, lun.size,
              lun.block_size, lun.backend == config::Backend::file ? lun.path : lun.container);
    lus.push_back(std::move(spec));
  }

  auto ctx = std::make_shared<iscsi::TargetContext>();
  ctx->config = target_config(cfg);
  ctx->devices = scsi::make_device_server(cfg.target.iqn, std::move(lus), &ctx->task_sets);
  iscsi::Server server(io.get_executor(), ctx);
  if (auto r = server.listen(); !r) return finish(1);
  admin.set_target(ctx);
  if (auto r = admin.start(); !r) return finish(1);

  if (!opts.ready_file.empty()) {
    std::ofstream out(opts.ready_file + ".tmp");
    for (auto p : server.bound_ports())
      out << p << "\n";
    out.close();
    std::filesystem::rename(opts.ready_file + ".tmp", opts.ready_file);
  }
  log->info("target {} ready", cfg.target.iqn);

  // Stop on SIGTERM/SIGINT: no new logins, sessions dropped, then dirty data drained to Swift up
  // to a deadline; whatever is still dirty stays safe in the cache journal for the next start.
  std::promise<int> stopped;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    log->info("signal {}: stopping", sig);
    server.stop();
    admin.stop();
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          for (auto& lun : cached) {
            auto r = co_await lun->drain(std::chrono::seconds(cfg.cache.shutdown_drain_s));
            if (!r)
              log->warn("container {}: not fully drained ({}); dirty data stays in the cache",
                        lun->container(), r.error().message());
            co_await lun->close();
          }
          stopped.set_value(0);
        },
        asio::detached);
  });
  int code = stopped.get_future().get();
  log->info("stopped");
  return finish(code);
}

}  // namespace swiftness::target
