// Where the data lives: the Swift account (auth, credentials, timeouts) and the local write-back
// cache (size, flushing, waiting limits, checkpoints).
#include "config/reader.hpp"

namespace swiftness::config::detail {

void read_swift(Reader& r, const YAML::Node& t, Config& c) {
  const std::string p = "swift";
  if (!t || !r.map(t, p)) return;
  r.check_keys(t, p,
               {"auth_url", "auth_version", "user", "key", "key_file", "key_env", "project",
                "project_domain", "user_domain", "region", "interface", "ca_file", "verify_tls",
                "request_timeout_ms"});
  SwiftSection s;
  if (auto v = r.str(t, p, "auth_url", true)) s.auth_url = *v;
  if (auto v = r.integer<int>(t, p, "auth_version", 1, 3)) {
    if (*v == 2)
      r.error(t["auth_version"], p + ".auth_version", "must be 1 (TempAuth) or 3 (Keystone)");
    s.auth_version = *v;
  }
  if (auto v = r.str(t, p, "user", true)) s.user = *v;
  if (auto v = r.secret(t, p, "key", true)) s.key = *v;
  if (auto v = r.str(t, p, "project")) s.project = *v;
  if (auto v = r.str(t, p, "project_domain")) s.project_domain = *v;
  if (auto v = r.str(t, p, "user_domain")) s.user_domain = *v;
  if (auto v = r.str(t, p, "region")) s.region = *v;
  if (auto v = r.str(t, p, "interface")) {
    if (*v != "public" && *v != "internal" && *v != "admin")
      r.error(t["interface"], p + ".interface", "must be public, internal or admin");
    s.interface = *v;
  }
  if (s.auth_version == 3 && s.project.empty())
    r.error(t, p + ".project", "is required with auth_version 3");
  if (auto v = r.str(t, p, "ca_file")) s.ca_file = *v;
  if (auto v = r.boolean(t, p, "verify_tls")) s.verify_tls = *v;
  if (!s.verify_tls)
    r.warn(t["verify_tls"], p + ".verify_tls",
           "is false: Swift's TLS certificate and host name are not checked");
  if (auto v = r.integer<uint32_t>(t, p, "request_timeout_ms", 100, 600'000))
    s.request_timeout_ms = *v;
  c.swift = s;
}

void read_cache(Reader& r, const YAML::Node& t, Config& c) {
  const std::string p = "cache";
  if (!t || !r.map(t, p)) return;
  r.check_keys(t, p,
               {"path", "size", "dirty_high_watermark", "dirty_low_watermark", "flush_concurrency",
                "max_dirty_age_s", "shutdown_drain_s", "fetch_concurrency", "read_ahead_chunks",
                "write_wait_limit_s", "read_wait_limit_s", "index_interval_ms", "gc_grace_s",
                "orphan_grace_s", "orphan_interval_s", "checkpoint_journal", "checkpoint_data"});
  auto& s = c.cache;
  if (auto v = r.str(t, p, "path")) s.path = *v;
  if (auto v = r.size(t, p, "size")) s.size = *v;
  auto percent = [&](const char* key, double& out) {
    if (auto v = r.integer<uint32_t>(t, p, key, 1, 100)) out = *v / 100.0;
  };
  percent("dirty_high_watermark", s.dirty_high_watermark);
  percent("dirty_low_watermark", s.dirty_low_watermark);
  if (s.dirty_low_watermark > s.dirty_high_watermark)
    r.error(t["dirty_low_watermark"], p + ".dirty_low_watermark",
            "must not be above dirty_high_watermark");
  if (auto v = r.integer<uint32_t>(t, p, "flush_concurrency", 1, 256)) s.flush_concurrency = *v;
  if (auto v = r.integer<uint32_t>(t, p, "max_dirty_age_s", 1, 86400)) s.max_dirty_age_s = *v;
  if (auto v = r.integer<uint32_t>(t, p, "shutdown_drain_s", 0, 86400)) s.shutdown_drain_s = *v;
  if (auto v = r.integer<uint32_t>(t, p, "fetch_concurrency", 1, 256)) s.fetch_concurrency = *v;
  if (auto v = r.integer<uint32_t>(t, p, "read_ahead_chunks", 0, 256)) s.read_ahead_chunks = *v;
  if (auto v = r.integer<uint32_t>(t, p, "write_wait_limit_s", 1, 3600)) s.write_wait_limit_s = *v;
  if (auto v = r.integer<uint32_t>(t, p, "read_wait_limit_s", 1, 3600)) s.read_wait_limit_s = *v;
  if (auto v = r.integer<uint32_t>(t, p, "index_interval_ms", 10, 3'600'000))
    s.index_interval_ms = *v;
  if (auto v = r.integer<uint32_t>(t, p, "gc_grace_s", 0, 604800)) s.gc_grace_s = *v;
  // An orphan is an object no index names yet: an upload whose index record is still on its way
  // looks the same, so the grace must outlast any index checkpoint delay by far.
  if (auto v = r.integer<uint32_t>(t, p, "orphan_grace_s", 60, 2'592'000)) s.orphan_grace_s = *v;
  if (auto v = r.integer<uint32_t>(t, p, "orphan_interval_s", 0, 2'592'000))
    s.orphan_interval_s = *v;
  if (auto v = r.size(t, p, "checkpoint_journal")) {
    if (*v < (1u << 20))
      r.error(t["checkpoint_journal"], p + ".checkpoint_journal", "must be at least 1MiB");
    else
      s.checkpoint_journal = *v;
  }
  if (auto v = r.size(t, p, "checkpoint_data")) {
    if (*v < (1u << 20))
      r.error(t["checkpoint_data"], p + ".checkpoint_data", "must be at least 1MiB");
    else
      s.checkpoint_data = *v;
  }
}

}  // namespace swiftness::config::detail
