#include "target/serve.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "config/config.hpp"
#include "core/log.hpp"
#include "target/iscsi/server.hpp"
#include "target/lun_identity.hpp"
#include "target/scsi/logical_unit.hpp"
#include "target/storage/file_block_device.hpp"

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

  std::vector<scsi::LogicalUnitSpec> lus;
  for (const auto& lun : cfg.luns) {
    auto id = load_or_create_identity(cfg.state_dir, lun.name);
    if (!id) {
      log->error("LUN {}: cannot keep its identity under {}: {}", lun.name, cfg.state_dir,
                 id.error().message());
      return 1;
    }
    scsi::LogicalUnitSpec spec;
    spec.lun = lun.id;
    spec.product = "Swiftness";
    spec.serial = lun.serial.empty() ? id->serial : lun.serial;
    spec.naa_id = id->naa;
    spec.state_dir = (std::filesystem::path(cfg.state_dir) / "luns" / lun.name).string();
    spec.write_cache = lun.write_cache;
    if (lun.backend == config::Backend::file) {
      storage::FileBlockDeviceOptions fo;
      fo.path = lun.path;
      fo.size_bytes = lun.size;
      fo.block_size = lun.block_size;
      fo.thin = lun.thin;
      fo.read_only = lun.read_only;
      auto dev = storage::FileBlockDevice::open(fo, blocking.get_executor());
      if (!dev) {
        log->error("{}:{}: LUN {}: cannot open {}: {}", cfg.file, lun.line, lun.name, lun.path,
                   dev.error().message());
        return 1;
      }
      spec.device = *dev;
    } else {
      log->error("{}:{}: LUN {}: backend swift is not available in this build yet", cfg.file,
                 lun.line, lun.name);
      return 1;
    }
    std::error_code ec;
    std::filesystem::create_directories(spec.state_dir, ec);
    log->info("LUN {} ({}): {} bytes, {}-byte blocks, {}", lun.id, lun.name, lun.size,
              lun.block_size, lun.backend == config::Backend::file ? lun.path : lun.container);
    lus.push_back(std::move(spec));
  }

  auto ctx = std::make_shared<iscsi::TargetContext>();
  ctx->config = target_config(cfg);
  ctx->devices = scsi::make_device_server(cfg.target.iqn, std::move(lus));
  iscsi::Server server(io.get_executor(), ctx);
  if (auto r = server.listen(); !r) return 1;

  if (!opts.ready_file.empty()) {
    std::ofstream out(opts.ready_file + ".tmp");
    for (auto p : server.bound_ports())
      out << p << "\n";
    out.close();
    std::filesystem::rename(opts.ready_file + ".tmp", opts.ready_file);
  }
  log->info("target {} ready", cfg.target.iqn);

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    log->info("signal {}: stopping", sig);
    server.stop();
    io.stop();
  });

  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i)
    pool.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : pool)
    t.join();
  blocking.join();
  log->info("stopped");
  return 0;
}

}  // namespace swiftness::target
