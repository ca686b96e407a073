#include "target/serve.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <string_view>
#include <thread>

#include <unistd.h>

#include "cache/cached_lun.hpp"
#include "config/config.hpp"
#include "core/log.hpp"
#include "swift/swift_store.hpp"
#include "target/admin_service.hpp"
#include "target/iscsi/server.hpp"
#include "target/lifecycle.hpp"
#include "target/lun_attach.hpp"
#include "target/notify.hpp"
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
  t.timeouts.slow_command = std::chrono::milliseconds(c.target.slow_command_ms);
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
  // Concurrency hint 1 with `threads` threads: a handler posted from an io thread stays on it
  // instead of waking another one. On 2 cores that took a 4 KiB write at QD 1 on a file LUN
  // from about 5 context switches per command to 4 and from 137-150 to 100-112 us of daemon
  // CPU (5,400 -> 5,900-7,000 IOPS), a cached read at QD 1 from 4-6 to 1, and 4 KiB reads at
  // QD 32 from 111-125k to 140k IOPS (tests/bench/README.md). The other threads still take
  // socket events, so sessions spread over them. SWIFTNESS_IO_HINT=0 gives asio the thread
  // count as the hint instead (the behaviour before), for A/B runs.
  const char* io_hint = std::getenv("SWIFTNESS_IO_HINT");
  asio::io_context io{io_hint && std::string_view(io_hint) == "0" ? int(threads) : 1};
  asio::thread_pool blocking(4);  // pread/pwrite/fdatasync never run on the io threads
  // The io threads run from the start: opening a Swift LUN talks to Swift.
  auto work = asio::make_work_guard(io);
  // Registered before anything else: SIGHUP's default action would end the process.
  asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < threads; ++i)
    pool.emplace_back([&io] { io.run(); });
  auto finish = [&](int code) {
    work.reset();
    io.stop();
    for (auto& t : pool)
      t.join();
    blocking.join();
    // From here on the process only tears down (with ASan, leak checking alone takes a while).
    // A second SIGTERM or SIGINT, e.g. a service manager or an impatient operator repeating
    // the stop, must not turn this clean exit into death by signal: asio gives the signals
    // back to their default action when it lets them go, so they are ignored instead.
    signals.clear();
    std::signal(SIGINT, SIG_IGN);
    std::signal(SIGTERM, SIG_IGN);
    std::signal(SIGHUP, SIG_IGN);
    return code;
  };

  AdminService admin(cfg, io.get_executor());
  auto make_store = [&](const config::SwiftSection& s) -> std::shared_ptr<core::ObjectStore> {
    auto sc = swift_config(s);
    sc.metrics = admin.swift_metrics();
    return std::make_shared<swift::SwiftStore>(io.get_executor(), std::move(sc));
  };
  AttachContext attach;
  attach.io = io.get_executor();
  attach.blocking = blocking.get_executor();
  attach.wrap = [&admin](const config::Lun& lun, std::shared_ptr<core::BlockDevice> dev,
                         std::shared_ptr<cache::CachedLun> cached) {
    return admin.attach_lun(lun, std::move(dev), std::move(cached));
  };
  attach.on_detach = [&admin](uint32_t id) { admin.detach_lun(id); };
  for (const auto& lun : cfg.luns)
    if (lun.backend == config::Backend::swift && !attach.store)
      attach.store = make_store(*cfg.swift);

  std::vector<AttachedLun> attached;
  std::vector<scsi::LogicalUnitSpec> lus;
  const uint64_t share = cache_share(cfg);
  for (const auto& lun : cfg.luns) {
    auto attaching = attach_lun(attach, cfg, lun, share);
    auto r = asio::co_spawn(io, std::move(attaching), asio::use_future).get();
    if (!r) return finish(1);
    lus.push_back(r->spec);
    attached.push_back(std::move(*r));
  }

  auto ctx = std::make_shared<iscsi::TargetContext>();
  ctx->config = target_config(cfg);
  ctx->devices = scsi::make_device_server(cfg.target.iqn, std::move(lus), &ctx->task_sets);
  iscsi::Server server(io.get_executor(), ctx);
  if (auto r = server.listen(); !r) return finish(1);
  admin.set_target(ctx);
  // The reload behind SIGHUP and POST /reload (lun create, lun resize): one code path.
  Lifecycle life(opts.config_path, cfg, attach, make_store, ctx, std::move(attached));
  admin.set_reload([&life]() { return life.reload(); });
  if (auto r = admin.start(); !r) return finish(1);

  std::string listening;
  const auto ports = server.bound_ports();
  for (size_t i = 0; i < ports.size() && i < cfg.target.portals.size(); ++i) {
    const auto& a = cfg.target.portals[i].address;
    listening += (i ? " " : "") + (a.find(':') != std::string::npos ? "[" + a + "]" : a) + ":" +
                 std::to_string(ports[i]);
  }
  if (!opts.ready_file.empty()) {
    std::ofstream out(opts.ready_file + ".tmp");
    for (auto p : ports)
      out << p << "\n";
    out.close();
    std::filesystem::rename(opts.ready_file + ".tmp", opts.ready_file);
  }
  log->info("target {} ready on {}", cfg.target.iqn, listening);
  const std::string ready = "READY=1\nMAINPID=" + std::to_string(::getpid()) + "\nSTATUS=serving " +
                            cfg.target.iqn + " on " + listening;
  notify_service_manager(ready);

  // One control loop, so a reload and a shutdown never overlap (a signal arriving meanwhile
  // waits in the signal_set). SIGHUP reloads; SIGTERM/SIGINT: no new logins, sessions dropped,
  // dirty data drained to Swift up to cache.shutdown_drain_s; what is still dirty stays safe in
  // the cache journal for the next start.
  std::promise<int> stopped;
  asio::co_spawn(
      asio::make_strand(io),
      [&]() -> asio::awaitable<void> {
        for (;;) {
          int sig = co_await signals.async_wait(asio::use_awaitable);
          if (sig == SIGHUP) {
            notify_service_manager("RELOADING=1");
            co_await life.reload();
            notify_service_manager(ready);
            continue;
          }
          notify_service_manager("STOPPING=1");
          log->info("signal {}: stopping", sig);
          server.stop();
          admin.stop();
          co_await life.shutdown();
          break;
        }
        stopped.set_value(0);
      },
      asio::detached);
  int code = stopped.get_future().get();
  log->info("stopped");
  return finish(code);
}

}  // namespace swiftness::target
