#include "target/lifecycle.hpp"

// GCC 12 false positive on Asio's coroutine frame allocator (cache/CMakeLists.txt silences it
// for the same reason): the frame's operator new and delete do match.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <tuple>

#include "cache/cached_lun.hpp"
#include "core/log.hpp"
#include "target/iscsi/target_context.hpp"
#include "target/storage/file_block_device.hpp"

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace swiftness::target {
namespace {

auto lun_fields(const config::Lun& l) {
  return std::tie(l.name, l.backend, l.path, l.container, l.size, l.block_size,
                  l.physical_block_size, l.chunk_size, l.read_only, l.thin, l.write_cache,
                  l.storage_policy, l.compression, l.serial);
}

bool same_chap(const std::optional<config::ChapSecret>& a,
               const std::optional<config::ChapSecret>& b) {
  if (bool(a) != bool(b)) return false;
  return !a || (a->user == b->user && a->secret == b->secret);
}

auto swift_fields(const config::SwiftSection& s) {
  return std::tie(s.auth_url, s.auth_version, s.user, s.key, s.project, s.project_domain,
                  s.user_domain, s.region, s.interface, s.ca_file, s.verify_tls);
}

auto cache_fields(const config::CacheSection& c) {
  return std::tie(c.path, c.size, c.dirty_high_watermark, c.dirty_low_watermark,
                  c.flush_concurrency, c.max_dirty_age_s, c.shutdown_drain_s);
}

bool same_portals(const std::vector<config::Portal>& a, const std::vector<config::Portal>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].address != b[i].address || a[i].port != b[i].port) return false;
  return true;
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

// Commands already running on a detached LU hold it; once the last one finishes the weak
// reference expires. Bounded: a command stuck on an unreachable Swift must not hang a reload.
asio::awaitable<bool> wait_idle(const std::weak_ptr<const void>& lu, Clock::time_point until) {
  while (!lu.expired()) {
    if (Clock::now() >= until) co_return false;
    co_await sleep_for(std::chrono::milliseconds(10));
  }
  co_return true;
}

}  // namespace

ReloadPlan plan_reload(const config::Config& run, const config::Config& next) {
  ReloadPlan p;
  auto restart = [&](const std::string& what) {
    p.refused.push_back(what + ": cannot change while running; restart to apply");
  };
  const auto &a = run.target, &b = next.target;
  if (a.iqn != b.iqn) restart("target.iqn");
  if (!same_portals(a.portals, b.portals)) restart("target.portals");
  if (a.max_connections != b.max_connections) restart("target.max_connections");
  if (std::tie(a.login_timeout_ms, a.nop_interval_ms, a.nop_timeout_ms, a.slow_command_ms) !=
      std::tie(b.login_timeout_ms, b.nop_interval_ms, b.nop_timeout_ms, b.slow_command_ms))
    restart("target timeouts");
  p.login_changed = !same_chap(a.chap, b.chap) || !same_chap(a.mutual_chap, b.mutual_chap) ||
                    a.discovery_chap != b.discovery_chap ||
                    a.allowed_initiators != b.allowed_initiators || a.alias != b.alias;
  // A Swift section may appear (the first Swift LUN), but a running client is not re-pointed.
  if (run.swift && (!next.swift || swift_fields(*run.swift) != swift_fields(*next.swift)))
    restart("swift");
  if (cache_fields(run.cache) != cache_fields(next.cache)) restart("cache");
  if (run.state_dir != next.state_dir) restart("state_dir");
  if (run.admin.socket != next.admin.socket || run.admin.socket_mode != next.admin.socket_mode ||
      bool(run.admin.http) != bool(next.admin.http) ||
      (run.admin.http && (run.admin.http->address != next.admin.http->address ||
                          run.admin.http->port != next.admin.http->port)))
    restart("admin");

  std::map<uint32_t, const config::Lun*> old_by_id, new_by_id;
  for (const auto& l : run.luns)
    old_by_id[l.id] = &l;
  for (const auto& l : next.luns)
    new_by_id[l.id] = &l;
  for (const auto& [id, l] : old_by_id) {
    auto it = new_by_id.find(id);
    if (it == new_by_id.end()) {
      p.removed.push_back(*l);
      continue;
    }
    const config::Lun& n = *it->second;
    if (lun_fields(*l) == lun_fields(n)) continue;
    config::Lun resized = *l;
    resized.size = n.size;
    if (lun_fields(resized) == lun_fields(n)) {
      // Only the size changed: growing is applied in place, shrinking would lose data.
      if (n.size > l->size)
        p.grown.push_back(n);
      else
        p.refused.push_back(next.file + ":" + std::to_string(n.line) + ": LUN " +
                            std::to_string(id) + " (" + n.name + "): shrinking from " +
                            std::to_string(l->size) + " to " + std::to_string(n.size) +
                            " bytes is refused: data past the new end would be lost");
    } else {
      p.refused.push_back(next.file + ":" + std::to_string(it->second->line) + ": LUN " +
                          std::to_string(id) +
                          " changed; a LUN in use cannot change: remove it in one reload and "
                          "add it back in the next, or restart");
    }
  }
  for (const auto& [id, l] : new_by_id) {
    if (old_by_id.count(id)) continue;
    // Its storage must not be what a LUN being removed still uses until drained.
    for (const auto& r : p.removed) {
      if (r.name == l->name ||
          (l->backend == config::Backend::swift && r.backend == config::Backend::swift &&
           r.container == l->container) ||
          (l->backend == config::Backend::file && r.backend == config::Backend::file &&
           r.path == l->path))
        p.refused.push_back(next.file + ":" + std::to_string(l->line) + ": LUN " +
                            std::to_string(id) + " reuses the name or storage of removed LUN " +
                            std::to_string(r.id) + ": remove it first, then add the new one");
    }
    p.added.push_back(*l);
  }
  return p;
}

Lifecycle::Lifecycle(
    std::string path, config::Config running, AttachContext attach,
    std::function<std::shared_ptr<core::ObjectStore>(const config::SwiftSection&)> make_store,
    std::shared_ptr<iscsi::TargetContext> target, std::vector<AttachedLun> luns)
    : path_(std::move(path)),
      running_(std::move(running)),
      attach_(std::move(attach)),
      make_store_(std::move(make_store)),
      target_(std::move(target)),
      luns_(std::move(luns)) {}

asio::awaitable<void> Lifecycle::lock() {
  while (busy_.exchange(true, std::memory_order_acquire))
    co_await sleep_for(std::chrono::milliseconds(20));
}

asio::awaitable<ReloadOutcome> Lifecycle::reload() {
  co_await lock();
  struct Unlock {
    Lifecycle* l;
    ~Unlock() { l->unlock(); }
  } unlock{this};
  co_return co_await reload_locked();
}

asio::awaitable<core::Result<void>> Lifecycle::grow(AttachedLun& lun, uint64_t size_bytes) {
  if (lun.cached) co_return co_await lun.cached->grow(size_bytes);
  if (lun.file) co_return co_await lun.file->grow(size_bytes);
  co_return std::make_error_code(std::errc::not_supported);
}

asio::awaitable<ReloadOutcome> Lifecycle::reload_locked() {
  ReloadOutcome out;
  auto log = core::logger("config");
  log->info("reloading {} (SIGHUP or POST /reload)", path_);
  auto loaded = config::load_file(path_);
  for (const auto& w : loaded.warnings)
    log->warn("{}", w.to_string());
  if (!loaded.config) {
    for (const auto& e : loaded.errors) {
      log->error("{}", e.to_string());
      out.errors.push_back(e.to_string());
    }
    log->error("reload refused ({} errors): the running configuration stays in force",
               loaded.errors.size());
    co_return out;
  }
  config::Config next = std::move(*loaded.config);
  ReloadPlan plan = plan_reload(running_, next);
  if (!plan.refused.empty()) {
    for (const auto& r : plan.refused)
      log->error("{}", r);
    log->error("reload refused: the running configuration stays in force");
    out.errors = std::move(plan.refused);
    co_return out;
  }
  out.applied = true;

  if (running_.log_level != next.log_level) core::set_log_level(next.log_level);
  if (plan.login_changed) {
    iscsi::LoginSecurity s;
    if (next.target.chap)
      s.chap = iscsi::ChapCredentials{next.target.chap->user, next.target.chap->secret};
    if (next.target.mutual_chap)
      s.mutual_chap =
          iscsi::ChapCredentials{next.target.mutual_chap->user, next.target.mutual_chap->secret};
    s.discovery_chap = next.target.discovery_chap;
    s.allowed_initiators = next.target.allowed_initiators;
    s.target_alias = next.target.alias;
    target_->set_login_security(std::move(s));
    log->info("CHAP and allowed initiators updated: they apply to new logins");
  }

  // Removed LUNs first: they leave the LUN inventory at once, then drain in the background of
  // this reload while the added ones attach.
  std::vector<uint32_t> kept_ids;
  for (const auto& r : plan.removed) {
    for (auto it = luns_.begin(); it != luns_.end(); ++it) {
      if (it->config.id != r.id) continue;
      AttachedLun gone = std::move(*it);
      luns_.erase(it);
      auto deadline = Clock::now() + std::chrono::seconds(next.cache.shutdown_drain_s);
      co_await detach(std::move(gone), deadline);
      out.removed.push_back(r.name);
      break;
    }
  }

  // Grown LUNs: the device grows, and the SCSI layer raises CAPACITY DATA HAS CHANGED for
  // every session at its next command on the LUN. A failure keeps the old size in force, so
  // the next reload of the same file tries again.
  for (const auto& g : plan.grown) {
    auto it = std::find_if(luns_.begin(), luns_.end(),
                           [&](const AttachedLun& l) { return l.config.id == g.id; });
    if (it == luns_.end()) continue;
    const uint64_t old_size = it->config.size;
    const uint64_t new_size = g.size;
    auto grown = co_await grow(*it, new_size);
    if (!grown) {
      log->error("{}:{}: LUN {} ({}): cannot grow from {} to {} bytes: {}", next.file, g.line, g.id,
                 g.name, old_size, new_size, grown.error().message());
      out.failed.push_back(g.name);
      out.errors.push_back("LUN " + g.name + ": cannot grow: " + grown.error().message());
      for (auto& l : next.luns)
        if (l.id == g.id) l.size = old_size;
      continue;
    }
    it->config.size = new_size;
    log->info("LUN {} ({}) grown from {} to {} bytes", g.id, g.name, old_size, new_size);
    out.grown.push_back(g.name);
  }

  if (!attach_.store && next.swift) {
    for (const auto& a : plan.added)
      if (a.backend == config::Backend::swift) {
        attach_.store = make_store_(*next.swift);
        break;
      }
  }
  const uint64_t share = cache_share(next);
  std::vector<config::Lun> failed;
  for (const auto& a : plan.added) {
    auto attaching = attach_lun(attach_, next, a, share);
    auto r = co_await std::move(attaching);
    if (!r) {
      failed.push_back(a);
      out.errors.push_back("LUN " + a.name + ": cannot attach: " + r.error().message());
      continue;
    }
    if (!target_->devices->add_logical_unit(r->spec)) {
      log->error("LUN {} already exists", a.id);
      failed.push_back(a);
      out.errors.push_back("LUN " + a.name + ": LUN " + std::to_string(a.id) + " already exists");
      continue;
    }
    log->info("LUN {} ({}) added", a.id, a.name);
    out.added.push_back(a.name);
    luns_.push_back(std::move(*r));
  }
  // What is in force: the new file, less the LUNs that could not attach (a later reload with
  // the same file tries them again).
  for (const auto& f : failed) {
    std::erase_if(next.luns, [&](const config::Lun& l) { return l.id == f.id; });
    out.failed.push_back(f.name);
  }
  running_ = std::move(next);
  log->info("reload done: {} LUNs added, {} removed, {} grown{}", out.added.size(),
            out.removed.size(), out.grown.size(),
            out.failed.empty() ? "" : ", some could not attach or grow (see above)");
  co_return out;
}

asio::awaitable<void> Lifecycle::detach(AttachedLun lun, Clock::time_point drain_deadline) {
  auto log = core::logger("main");
  std::weak_ptr<const void> lu = target_->devices->remove_logical_unit(lun.config.id);
  lun.spec.device.reset();
  lun.file.reset();
  // Out of /status and /metrics now: the LUN no longer exists for initiators either.
  if (attach_.on_detach) attach_.on_detach(lun.config.id);
  // Commands on it may still run: let them finish (bounded), then nothing else touches it.
  if (!co_await wait_idle(lu, Clock::now() + std::chrono::seconds(30)))
    log->warn("LUN {}: commands still running after 30 s; detaching anyway", lun.config.id);
  if (lun.cached) {
    auto left = drain_deadline - Clock::now();
    auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::max<Clock::duration>(left, Clock::duration::zero()));
    auto drained = co_await lun.cached->drain(limit);
    if (drained) {
      log->info("LUN {} ({}): drained, Swift container {} holds all its data", lun.config.id,
                lun.config.name, lun.config.container);
    } else {
      auto st = lun.cached->stats();
      log->warn(
          "LUN {} ({}): {} bytes still dirty ({}); they stay safe in the cache journal under {} "
          "and are uploaded when the LUN is attached again",
          lun.config.id, lun.config.name, st.dirty_blocks * lun.config.block_size,
          drained.error().message(), running_.cache.path);
    }
    co_await lun.cached->close();
  }
  log->info("LUN {} ({}) detached", lun.config.id, lun.config.name);
}

asio::awaitable<void> Lifecycle::shutdown() {
  co_await lock();  // a reload in progress finishes first; nothing unlocks: the end
  // One deadline for all: N LUNs must not take N times shutdown_drain_s (TimeoutStopSec).
  const auto deadline = Clock::now() + std::chrono::seconds(running_.cache.shutdown_drain_s);
  std::vector<AttachedLun> all = std::move(luns_);
  luns_.clear();
  // Every LUN drains at once: their flushers upload in parallel.
  auto remaining = std::make_shared<std::atomic<size_t>>(all.size());
  auto ex = co_await asio::this_coro::executor;
  for (auto& lun : all) {
    asio::co_spawn(
        ex,
        [this, lun = std::move(lun), deadline, remaining]() mutable -> asio::awaitable<void> {
          co_await detach(std::move(lun), deadline);
          --*remaining;
        },
        asio::detached);
  }
  while (remaining->load() > 0)
    co_await sleep_for(std::chrono::milliseconds(10));
}

}  // namespace swiftness::target
