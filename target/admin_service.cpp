#include "target/admin_service.hpp"

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <mutex>
#include <string_view>
#include <vector>

#include "admin/http_server.hpp"
#include "admin/metered_device.hpp"
#include "admin/metrics_writer.hpp"
#include "cache/cached_lun.hpp"
#include "config/config.hpp"
#include "core/log.hpp"
#include "target/iscsi/target_context.hpp"

namespace swiftness::target {

namespace asio = boost::asio;
namespace json = boost::json;
using admin::Labels;
using admin::Reply;
using admin::Request;

namespace {

constexpr size_t kImageSlice = 1 << 20;  // image import/export moves 1 MiB per device call

Reply json_reply(const json::value& v, int status = 200) {
  return Reply{status, "application/json", json::serialize(v) + "\n"};
}

}  // namespace

// A drain started from the admin endpoint, readable from /status while it runs.
struct DrainState {
  std::string state = "idle";  // idle | running | done | failed
  uint64_t start_dirty_bytes = 0;
  std::string error;
  std::chrono::steady_clock::time_point started{};
  double seconds = 0;
};

struct LunEntry {
  // As attached: the size may have grown since (size()).
  config::Lun cfg;
  std::shared_ptr<core::BlockDevice> device;  // the storage itself (not metered)
  std::shared_ptr<cache::CachedLun> cached;   // null for file LUNs
  std::shared_ptr<core::metrics::IoMetrics> io = std::make_shared<core::metrics::IoMetrics>();
  std::mutex mu;  // guards drain and busy
  DrainState drain;
  bool busy = false;  // an image import or export is running
  // What the device says now: a reload may have grown the LUN since it was attached.
  uint64_t size() const { return device->geometry().block_count * cfg.block_size; }
};

struct AdminService::State : admin::Routes, std::enable_shared_from_this<AdminService::State> {
  asio::any_io_executor ex;
  std::string iqn, alias;
  std::vector<std::string> portals;
  std::string cache_path;
  uint64_t cache_size = 0;
  config::AdminSection admin_cfg;
  uint32_t default_drain_s = 3600;
  // Changed by attach/detach (startup, SIGHUP reload) while handlers run on other threads:
  // handlers work on a snapshot of shared pointers taken under the mutex.
  std::mutex luns_mu;
  std::vector<std::shared_ptr<LunEntry>> luns_;
  std::vector<std::shared_ptr<LunEntry>> luns() {
    std::lock_guard lock(luns_mu);
    return luns_;
  }
  std::shared_ptr<core::metrics::HttpMetrics> swift =
      std::make_shared<core::metrics::HttpMetrics>();
  std::shared_ptr<iscsi::TargetContext> target;
  std::unique_ptr<admin::HttpServer> server;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::function<asio::awaitable<ReloadOutcome>()> reload;

  std::shared_ptr<LunEntry> find(const std::string& key) {
    for (auto& l : luns())
      if (l->cfg.name == key || std::to_string(l->cfg.id) == key) return l;
    return nullptr;
  }
  size_t sessions() const { return target ? target->sessions.session_count() : 0; }

  // ---- /metrics ----
  std::string metrics() {
    admin::Exposition e;
    e.gauge("swiftness_build_info", "Version of the running daemon", {{"version", "0.1.0"}}, 1);
    e.gauge("swiftness_uptime_seconds", "Seconds since the daemon started", {},
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    for (auto& l : luns()) {
      const Labels lun{{"lun", std::to_string(l->cfg.id)}, {"name", l->cfg.name}};
      auto with = [&](const char* k, const char* v) {
        Labels x = lun;
        x.emplace_back(k, v);
        return x;
      };
      const auto& io = *l->io;
      e.gauge("swiftness_lun_size_bytes", "Size of the LUN", lun, double(l->size()));
      e.counter("swiftness_lun_commands_total", "Read and write commands that reached storage",
                with("op", "read"), double(io.reads.value()));
      e.counter("swiftness_lun_commands_total", "Read and write commands that reached storage",
                with("op", "write"), double(io.writes.value()));
      e.counter("swiftness_lun_bytes_total", "Bytes read and written by initiators",
                with("op", "read"), double(io.read_bytes.value()));
      e.counter("swiftness_lun_bytes_total", "Bytes read and written by initiators",
                with("op", "write"), double(io.write_bytes.value()));
      e.counter("swiftness_lun_errors_total", "Read and write commands the storage failed",
                with("op", "read"), double(io.read_errors.value()));
      e.counter("swiftness_lun_errors_total", "Read and write commands the storage failed",
                with("op", "write"), double(io.write_errors.value()));
      e.counter("swiftness_lun_flushes_total", "SYNCHRONIZE CACHE (and FUA-less flush) calls", lun,
                double(io.flushes.value()));
      e.counter("swiftness_lun_unmaps_total", "UNMAP / WRITE SAME unmap calls", lun,
                double(io.unmaps.value()));
      e.histogram("swiftness_lun_latency_seconds", "Storage latency of reads and writes",
                  with("op", "read"), io.read_latency.snapshot());
      e.histogram("swiftness_lun_latency_seconds", "Storage latency of reads and writes",
                  with("op", "write"), io.write_latency.snapshot());
      e.gauge("swiftness_lun_sessions", "iSCSI sessions that see this LUN", lun,
              double(sessions()));
      if (!l->cached) continue;
      const auto s = l->cached->stats();
      const double bs = double(l->cfg.block_size);
      e.gauge("swiftness_cache_dirty_bytes", "Bytes in the cache not yet in Swift", lun,
              double(s.dirty_blocks) * bs);
      e.gauge("swiftness_cache_used_bytes", "Cache bytes holding LUN data", lun,
              double(s.used_pages) * bs);
      e.gauge("swiftness_cache_size_bytes", "Size of the LUN's cache", lun,
              double(s.total_pages) * bs);
      e.counter("swiftness_cache_hits_total",
                "Blocks read without Swift (cached, or never written)", lun,
                double(s.read_hit_blocks));
      e.counter("swiftness_cache_misses_total", "Blocks read that needed their chunk from Swift",
                lun, double(s.read_miss_blocks));
      e.gauge("swiftness_cache_flush_queue_chunks",
              "Dirty chunks waiting for (or in) an upload to Swift", lun, double(s.dirty_chunks));
      e.gauge("swiftness_cache_uploads_in_flight", "Chunk uploads running now", lun,
              double(s.uploads_in_flight));
      e.counter("swiftness_cache_fetches_total",
                "Chunk objects fetched from Swift (read misses and read-ahead)", lun,
                double(s.fetches));
      e.counter("swiftness_cache_uploads_total", "Chunk objects uploaded to Swift", lun,
                double(s.uploads));
      e.counter("swiftness_cache_upload_failures_total", "Chunk uploads that failed", lun,
                double(s.upload_failures));
      e.counter("swiftness_cache_checksum_failures_total",
                "Chunk objects from Swift whose content did not match its check", lun,
                double(s.checksum_failures));
      e.counter("swiftness_cache_local_errors_total",
                "Cache-file operations that failed (ENOSPC, EROFS, EIO, ...)", lun,
                double(s.local_errors));
      e.counter("swiftness_cache_swift_read_fallbacks_total",
                "Blocks unreadable in the cache file and served from Swift instead", lun,
                double(s.swift_read_fallbacks));
      e.counter("swiftness_cache_page_crc_failures_total",
                "Cache-file pages whose bytes did not match their CRC32C (never served)", lun,
                double(s.page_crc_failures));
      e.counter("swiftness_cache_page_crc_repairs_total",
                "Of those, clean pages rewritten from their Swift object", lun,
                double(s.page_crc_repairs));
      e.gauge("swiftness_cache_damaged_dirty_blocks",
              "Dirty blocks whose only copy failed its CRC32C: MEDIUM ERROR until written again",
              lun, double(s.damaged_dirty_blocks));
      e.gauge("swiftness_cache_writes_stopped",
              "1 while a cache-file failure stops writes to the LUN (a probe resumes them)", lun,
              s.writes_stopped ? 1.0 : 0.0);
      e.gauge("swiftness_swift_chunk_objects", "Chunk objects of the LUN in Swift", lun,
              double(s.chunk_objects));
      e.gauge("swiftness_swift_garbage_objects", "Superseded objects waiting to be deleted", lun,
              double(s.garbage));
    }
    using H = core::metrics::HttpMetrics;
    for (size_t v = 0; v < H::kVerbs.size(); ++v) {
      for (int code = 0; code < 600; ++code) {
        const uint64_t n = swift->count(v, code);
        if (n == 0) continue;
        e.counter("swiftness_swift_requests_total",
                  "HTTP exchanges with Swift by verb and status (code none: no response)",
                  {{"method", std::string(H::kVerbs[v])},
                   {"code", code ? std::to_string(code) : "none"},
                   {"class", code ? std::to_string(code / 100) + "xx" : "none"}},
                  double(n));
      }
    }
    e.counter("swiftness_swift_retries_total", "Swift requests retried after a transient failure",
              {}, double(swift->retries.value()));
    e.counter("swiftness_swift_errors_total",
              "Swift requests given up on (no response or 5xx after retries)", {},
              double(swift->errors.value()));
    e.histogram("swiftness_swift_request_duration_seconds", "Duration of one HTTP exchange", {},
                swift->latency.snapshot());
    if (target) {
      e.gauge("swiftness_iscsi_sessions", "Logged-in normal iSCSI sessions", {},
              double(sessions()));
      e.gauge("swiftness_iscsi_connections", "Open iSCSI TCP connections", {},
              double(target->connections.load()));
      e.counter("swiftness_iscsi_logins_total", "iSCSI logins by result", {{"result", "ok"}},
                double(target->logins_ok.load()));
      e.counter("swiftness_iscsi_logins_total", "iSCSI logins by result", {{"result", "failed"}},
                double(target->logins_failed.load()));
      e.counter("swiftness_iscsi_slow_commands_total",
                "Commands still at the device slow_command_ms after they started (each is logged)",
                {}, double(target->slow_commands.load()));
    }
    return e.text();
  }

  // ---- /status ----
  json::object drain_json(LunEntry& l, uint64_t dirty) {
    std::lock_guard lock(l.mu);
    json::object d;
    d["state"] = l.drain.state;
    d["start_dirty_bytes"] = l.drain.start_dirty_bytes;
    d["dirty_bytes"] = dirty;
    if (l.drain.state == "running")
      d["seconds"] =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - l.drain.started).count();
    else
      d["seconds"] = l.drain.seconds;
    if (!l.drain.error.empty()) d["error"] = l.drain.error;
    return d;
  }

  json::value status() {
    json::object o;
    json::object t;
    t["iqn"] = iqn;
    t["alias"] = alias;
    json::array ps;
    for (const auto& p : portals)
      ps.emplace_back(p);
    t["portals"] = std::move(ps);
    o["target"] = std::move(t);
    o["pid"] = int64_t(::getpid());
    o["version"] = "0.1.0";
    o["sessions"] = sessions();
    uint64_t total_dirty = 0, total_used = 0;
    json::array ls;
    for (auto& l : luns()) {
      json::object j;
      j["id"] = l->cfg.id;
      j["name"] = l->cfg.name;
      j["backend"] = l->cfg.backend == config::Backend::swift ? "swift" : "file";
      j["size"] = l->size();
      j["block_size"] = l->cfg.block_size;
      j["read_only"] = l->cfg.read_only;
      j["sessions"] = sessions();
      uint64_t dirty = 0;
      if (l->cached) {
        const auto s = l->cached->stats();
        const uint64_t bs = l->cfg.block_size;
        dirty = s.dirty_blocks * bs;
        j["container"] = l->cfg.container;
        j["chunk_size"] = l->cfg.chunk_size;
        j["dirty_bytes"] = dirty;
        // Upper bound: compressed or partly unmapped chunks take less.
        j["bytes_in_swift"] = s.chunk_objects * l->cfg.chunk_size;
        j["chunk_objects"] = s.chunk_objects;
        json::object c;
        c["used_bytes"] = s.used_pages * bs;
        c["size_bytes"] = s.total_pages * bs;
        c["dirty_bytes"] = dirty;
        c["flush_queue_chunks"] = s.dirty_chunks;
        c["hit_blocks"] = s.read_hit_blocks;
        c["miss_blocks"] = s.read_miss_blocks;
        c["page_crc_failures"] = s.page_crc_failures;
        c["page_crc_repairs"] = s.page_crc_repairs;
        c["damaged_dirty_blocks"] = s.damaged_dirty_blocks;
        j["cache"] = std::move(c);
        total_dirty += dirty;
        total_used += s.used_pages * bs;
      } else {
        j["path"] = l->cfg.path;
        j["dirty_bytes"] = 0;
      }
      j["drain"] = drain_json(*l, dirty);
      json::object io;
      io["reads"] = l->io->reads.value();
      io["writes"] = l->io->writes.value();
      io["read_bytes"] = l->io->read_bytes.value();
      io["write_bytes"] = l->io->write_bytes.value();
      j["io"] = std::move(io);
      ls.emplace_back(std::move(j));
    }
    o["luns"] = std::move(ls);
    json::object c;
    c["path"] = cache_path;
    c["size_bytes"] = cache_size;
    c["used_bytes"] = total_used;
    c["dirty_bytes"] = total_dirty;
    o["cache"] = std::move(c);
    return o;
  }

  // ---- /reload ----
  static json::value reload_json(const ReloadOutcome& r) {
    auto list = [](const std::vector<std::string>& v) {
      json::array a;
      for (const auto& x : v)
        a.emplace_back(x);
      return a;
    };
    json::object o;
    o["applied"] = r.applied;
    o["added"] = list(r.added);
    o["removed"] = list(r.removed);
    o["grown"] = list(r.grown);
    o["failed"] = list(r.failed);
    o["errors"] = list(r.errors);
    return o;
  }

  // ---- /drain ----
  Reply start_drain(const Request& req) {
    const std::string which = req.param("lun");
    std::vector<std::shared_ptr<LunEntry>> chosen;
    if (which.empty()) {
      chosen = luns();
    } else if (auto l = find(which)) {
      chosen.push_back(l);
    } else {
      return admin::json_error(404, "no LUN " + which);
    }
    uint32_t limit_s = default_drain_s;
    if (auto t = req.param("timeout_s"); !t.empty()) limit_s = uint32_t(std::stoul(t));
    json::array started;
    for (const auto& l : chosen) {
      {
        std::lock_guard lock(l->mu);
        if (l->drain.state == "running") {
          started.emplace_back(l->cfg.name);
          continue;
        }
        l->drain = DrainState{};
        l->drain.started = std::chrono::steady_clock::now();
        if (!l->cached) {
          l->drain.state = "done";  // file LUNs have nothing to upload
          continue;
        }
        l->drain.state = "running";
        l->drain.start_dirty_bytes = l->cached->stats().dirty_blocks * l->cfg.block_size;
      }
      started.emplace_back(l->cfg.name);
      auto self = shared_from_this();
      asio::co_spawn(
          ex,
          [self, l, limit_s]() -> asio::awaitable<void> {
            const std::chrono::milliseconds limit = std::chrono::seconds(limit_s);
            auto r = co_await l->cached->drain(limit);
            std::lock_guard lock(l->mu);
            l->drain.seconds =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - l->drain.started)
                    .count();
            l->drain.state = r ? "done" : "failed";
            if (!r) l->drain.error = r.error().message();
            core::logger("admin")->info("LUN {}: drain {} in {:.1f} s", l->cfg.name, l->drain.state,
                                        l->drain.seconds);
          },
          asio::detached);
    }
    json::object o;
    o["draining"] = std::move(started);
    return json_reply(o, 202);
  }

  asio::awaitable<Reply> get_metrics(const Request&) {
    co_return Reply{200, std::string(admin::Exposition::kContentType), metrics()};
  }
  asio::awaitable<Reply> get_status(const Request&) { co_return json_reply(status()); }
  asio::awaitable<Reply> post_drain(const Request& req) { co_return start_drain(req); }
  asio::awaitable<Reply> post_reload(const Request&) {
    if (!reload) co_return admin::json_error(503, "the daemon is not ready to reload");
    auto running = reload();
    const ReloadOutcome r = co_await std::move(running);
    co_return json_reply(reload_json(r), r.applied ? 200 : 409);
  }

  // The fixed routes (the image routes stream, see below). A known path asked with another
  // method is 405, so a client can tell a wrong verb from a wrong path.
  asio::awaitable<Reply> handle(const Request& req) override {
    struct Route {
      std::string_view path, method;
      asio::awaitable<Reply> (State::*run)(const Request&);
    };
    static constexpr Route kRoutes[] = {
        {"/metrics", "GET", &State::get_metrics},
        {"/status", "GET", &State::get_status},
        {"/drain", "POST", &State::post_drain},
        {"/reload", "POST", &State::post_reload},
    };
    for (const Route& r : kRoutes) {
      if (req.path != r.path) continue;
      if (req.method != r.method) co_return admin::json_error(405, "use " + std::string(r.method));
      auto running = (this->*r.run)(req);
      co_return co_await std::move(running);
    }
    co_return admin::json_error(404, "no such route: " + req.method + " " + req.path);
  }

  // ---- /luns/<name>/image ----
  std::shared_ptr<LunEntry> image_lun(const Request& req) {
    const std::string prefix = "/luns/", suffix = "/image";
    if (req.path.size() <= prefix.size() + suffix.size() || req.path.rfind(prefix, 0) != 0 ||
        req.path.compare(req.path.size() - suffix.size(), suffix.size(), suffix) != 0)
      return nullptr;
    return find(req.path.substr(prefix.size(), req.path.size() - prefix.size() - suffix.size()));
  }
  bool is_image_path(const Request& req) const {
    return req.path.rfind("/luns/", 0) == 0 && req.path.ends_with("/image");
  }
  bool streams_upload(const Request& req) const override {
    return req.method == "PUT" && is_image_path(req);
  }
  bool streams_download(const Request& req) const override {
    return req.method == "GET" && is_image_path(req);
  }

  // Marks the LUN busy for one image transfer at a time.
  struct Busy {
    LunEntry* l = nullptr;
    ~Busy() {
      if (l) {
        std::lock_guard lock(l->mu);
        l->busy = false;
      }
    }
  };
  bool claim(LunEntry& l, Busy& b) {
    std::lock_guard lock(l.mu);
    if (l.busy) return false;
    l.busy = true;
    b.l = &l;
    return true;
  }

  asio::awaitable<Reply> upload(const Request& req, admin::BodySource& body) override {
    const std::shared_ptr<LunEntry> l = image_lun(req);
    if (!l) co_return admin::json_error(404, "no such LUN");
    if (!req.content_length) co_return admin::json_error(411, "Content-Length is required");
    const uint64_t len = *req.content_length;
    const uint32_t bs = l->cfg.block_size;
    const uint64_t lun_size = l->size();
    if (len > lun_size || len % bs != 0)
      co_return admin::json_error(400, "the image must be a whole number of " + std::to_string(bs) +
                                           "-byte blocks and at most the LUN's " +
                                           std::to_string(lun_size) + " bytes");
    if (l->cfg.read_only) co_return admin::json_error(409, "the LUN is read-only");
    // An initiator caches what it read: writing under it would corrupt its file system.
    if (const size_t n = sessions(); n && req.param("force") != "1")
      co_return admin::json_error(409, "the LUN is in use by " + std::to_string(n) +
                                           " iSCSI session(s); log them out first");
    Busy busy;
    if (!claim(*l, busy)) co_return admin::json_error(409, "another image transfer is running");
    std::vector<std::byte> buf(kImageSlice);
    uint64_t done = 0;
    while (done < len) {
      const size_t want = size_t(std::min<uint64_t>(buf.size(), len - done));
      size_t have = 0;
      while (have < want) {
        std::span<std::byte> rest(buf.data() + have, want - have);
        auto n = co_await body.read(rest);
        if (!n) co_return admin::json_error(400, "the upload was cut short");
        if (*n == 0) break;
        have += *n;
      }
      if (have != want) co_return admin::json_error(400, "the upload was cut short");
      const core::Lba lba = done / bs;
      const std::span<const std::byte> data(buf.data(), want);
      const core::WriteFlags flags{};
      auto w = co_await l->device->write(lba, data, flags);
      if (!w)
        co_return admin::json_error(
            500, "write at byte " + std::to_string(done) + " failed: " + w.error().message());
      done += want;
    }
    // As a SYNCHRONIZE CACHE: the image is durable (in the cache journal) when we answer.
    const core::LbaRange all{0, 0};
    if (auto f = co_await l->device->flush(all); !f)
      co_return admin::json_error(500, "flush failed: " + f.error().message());
    core::logger("admin")->info("LUN {}: imported {} bytes", l->cfg.name, done);
    json::object o;
    o["bytes"] = done;
    co_return json_reply(o);
  }

  asio::awaitable<std::optional<Reply>> download(const Request& req,
                                                 admin::BodySink& sink) override {
    const std::shared_ptr<LunEntry> l = image_lun(req);
    if (!l) co_return admin::json_error(404, "no such LUN");
    Busy busy;
    if (!claim(*l, busy)) co_return admin::json_error(409, "another image transfer is running");
    const uint64_t len = l->size();
    const uint32_t bs = l->cfg.block_size;
    const std::string type = "application/octet-stream";
    if (auto s = co_await sink.start(len, type); !s) co_return std::nullopt;
    std::vector<std::byte> buf(kImageSlice);
    for (uint64_t done = 0; done < len;) {
      const size_t n = size_t(std::min<uint64_t>(buf.size(), len - done));
      const core::Lba lba = done / bs;
      const std::span<std::byte> dst(buf.data(), n);
      auto r = co_await l->device->read(lba, dst);
      if (!r) {
        // Headers are gone: the short body and closed connection tell the client.
        core::logger("admin")->error("LUN {}: export failed at byte {}: {}", l->cfg.name, done,
                                     r.error().message());
        co_return std::nullopt;
      }
      const std::span<const std::byte> out(buf.data(), n);
      if (auto w = co_await sink.write(out); !w) co_return std::nullopt;
      done += n;
    }
    co_return std::nullopt;
  }
};

AdminService::AdminService(const config::Config& cfg, asio::any_io_executor ex)
    : state_(std::make_shared<State>()) {
  auto& s = *state_;
  s.ex = ex;
  s.iqn = cfg.target.iqn;
  s.alias = cfg.target.alias;
  for (const auto& p : cfg.target.portals)
    s.portals.push_back(p.address.find(':') != std::string::npos
                            ? "[" + p.address + "]:" + std::to_string(p.port)
                            : p.address + ":" + std::to_string(p.port));
  s.cache_path = cfg.cache.path;
  s.cache_size = cfg.cache.size;
  s.admin_cfg = cfg.admin;
}

AdminService::~AdminService() {
  stop();
  state_->server.reset();  // the server's routes point back at the state
}

std::shared_ptr<core::metrics::HttpMetrics> AdminService::swift_metrics() const {
  return state_->swift;
}

std::shared_ptr<core::BlockDevice> AdminService::attach_lun(
    const config::Lun& lun, std::shared_ptr<core::BlockDevice> device,
    std::shared_ptr<cache::CachedLun> cached) {
  auto e = std::make_shared<LunEntry>();
  e->cfg = lun;
  e->device = device;
  e->cached = std::move(cached);
  auto metered = std::make_shared<admin::MeteredDevice>(std::move(device), e->io);
  std::lock_guard lock(state_->luns_mu);
  // A LUN attached again under the same id (SIGHUP re-add) replaces its old entry.
  std::erase_if(state_->luns_, [&](const auto& x) { return x->cfg.id == lun.id; });
  state_->luns_.push_back(std::move(e));
  return metered;
}

void AdminService::detach_lun(uint32_t id) {
  std::lock_guard lock(state_->luns_mu);
  std::erase_if(state_->luns_, [&](const auto& x) { return x->cfg.id == id; });
}

void AdminService::set_target(std::shared_ptr<iscsi::TargetContext> ctx) {
  state_->target = std::move(ctx);
}

void AdminService::set_reload(std::function<asio::awaitable<ReloadOutcome>()> reload) {
  state_->reload = std::move(reload);
}

core::Result<void> AdminService::start() {
  admin::ServerOptions o;
  o.socket_path = state_->admin_cfg.socket;
  o.socket_mode = state_->admin_cfg.socket_mode;
  if (state_->admin_cfg.http) {
    o.tcp_address = state_->admin_cfg.http->address;
    o.tcp_port = state_->admin_cfg.http->port;
  }
  if (o.socket_path.empty() && o.tcp_address.empty()) return {};
  state_->server = std::make_unique<admin::HttpServer>(state_->ex, state_);
  return state_->server->start(o);
}

void AdminService::stop() {
  if (state_->server) state_->server->stop();
}

}  // namespace swiftness::target
