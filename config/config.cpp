#include "config/config.hpp"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace swiftness::config {

std::string ConfigError::to_string() const {
  std::ostringstream os;
  os << file;
  if (line) os << ":" << line << ":" << column;
  os << ": ";
  if (!key.empty()) os << key << ": ";
  os << message;
  return os.str();
}

std::optional<uint64_t> parse_size(std::string_view t) {
  while (!t.empty() && std::isspace(uint8_t(t.front())))
    t.remove_prefix(1);
  while (!t.empty() && std::isspace(uint8_t(t.back())))
    t.remove_suffix(1);
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
  if (ec != std::errc{} || p == t.data()) return std::nullopt;
  std::string_view unit(p, size_t(t.data() + t.size() - p));
  while (!unit.empty() && unit.front() == ' ')
    unit.remove_prefix(1);
  struct U {
    std::string_view name;
    uint64_t mult;
  };
  static constexpr U kUnits[] = {{"", 1},
                                 {"B", 1},
                                 {"K", 1ull << 10},
                                 {"KiB", 1ull << 10},
                                 {"M", 1ull << 20},
                                 {"MiB", 1ull << 20},
                                 {"G", 1ull << 30},
                                 {"GiB", 1ull << 30},
                                 {"T", 1ull << 40},
                                 {"TiB", 1ull << 40},
                                 {"KB", 1000},
                                 {"MB", 1000000},
                                 {"GB", 1000000000ull},
                                 {"TB", 1000000000000ull}};
  for (const auto& u : kUnits) {
    if (unit == u.name) {
      if (n > UINT64_MAX / u.mult) return std::nullopt;
      return n * u.mult;
    }
  }
  return std::nullopt;
}

bool valid_iscsi_name(std::string_view name) {
  static const std::regex kIqn(
      R"(iqn\.[0-9]{4}-(0[1-9]|1[0-2])\.[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[a-z0-9.:_-]+)?)");
  static const std::regex kEui(R"(eui\.[0-9A-Fa-f]{16})");
  static const std::regex kNaa(R"(naa\.([0-9A-Fa-f]{16}|[0-9A-Fa-f]{32}))");
  if (name.size() > 223) return false;  // RFC 3720 §3.2.6.1
  std::string s(name);
  return std::regex_match(s, kIqn) || std::regex_match(s, kEui) || std::regex_match(s, kNaa);
}

namespace {

// Walks the document, remembering where each value came from and collecting every problem.
class Reader {
 public:
  Reader(std::string file, LoadResult& out) : file_(std::move(file)), out_(out) {}

  void error(const YAML::Node& n, const std::string& key, const std::string& msg) {
    add(out_.errors, n, key, msg);
  }
  void warn(const YAML::Node& n, const std::string& key, const std::string& msg) {
    add(out_.warnings, n, key, msg);
  }

  // Reports keys of `map` not in `known`: a misspelt key would otherwise be silently ignored.
  void check_keys(const YAML::Node& map, const std::string& path,
                  std::initializer_list<std::string_view> known) {
    if (!map.IsMap()) return;
    for (auto it = map.begin(); it != map.end(); ++it) {
      std::string k = it->first.as<std::string>("");
      bool ok = false;
      for (auto kn : known)
        ok |= kn == k;
      if (!ok) error(it->first, join(path, k), "unknown key");
    }
  }

  bool map(const YAML::Node& n, const std::string& path) {
    if (n && !n.IsMap()) {
      error(n, path, "must be a mapping");
      return false;
    }
    return bool(n);
  }

  std::optional<std::string> str(const YAML::Node& parent, const std::string& path, const char* key,
                                 bool required = false) {
    YAML::Node n = parent[key];
    if (!n) {
      if (required) error(parent, join(path, key), "required key is missing");
      return std::nullopt;
    }
    if (!n.IsScalar()) {
      error(n, join(path, key), "must be a string");
      return std::nullopt;
    }
    return n.Scalar();
  }

  template <class T>
  std::optional<T> integer(const YAML::Node& parent, const std::string& path, const char* key, T lo,
                           T hi, bool required = false) {
    auto s = str(parent, path, key, required);
    if (!s) return std::nullopt;
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
    if (ec != std::errc{} || p != s->data() + s->size() || v < uint64_t(lo) || v > uint64_t(hi)) {
      error(parent[key], join(path, key),
            "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi) +
                ", got '" + *s + "'");
      return std::nullopt;
    }
    return T(v);
  }

  std::optional<bool> boolean(const YAML::Node& parent, const std::string& path, const char* key) {
    auto s = str(parent, path, key);
    if (!s) return std::nullopt;
    if (*s == "true" || *s == "yes" || *s == "on") return true;
    if (*s == "false" || *s == "no" || *s == "off") return false;
    error(parent[key], join(path, key), "must be true or false, got '" + *s + "'");
    return std::nullopt;
  }

  std::optional<uint64_t> size(const YAML::Node& parent, const std::string& path, const char* key,
                               bool required = false) {
    auto s = str(parent, path, key, required);
    if (!s) return std::nullopt;
    auto v = parse_size(*s);
    if (!v) error(parent[key], join(path, key), "not a size: '" + *s + "' (try 100GiB or 4MiB)");
    return v;
  }

  // A secret given inline, from a file (`<key>_file`) or an environment variable (`<key>_env`).
  std::optional<std::string> secret(const YAML::Node& parent, const std::string& path,
                                    const std::string& key, bool required) {
    int given = bool(parent[key]) + bool(parent[key + "_file"]) + bool(parent[key + "_env"]);
    if (given > 1) {
      error(parent, join(path, key),
            "give only one of " + key + ", " + key + "_file, " + key + "_env");
      return std::nullopt;
    }
    if (parent[key]) return str(parent, path, key.c_str());
    if (parent[key + "_env"]) {
      auto var = str(parent, path, (key + "_env").c_str());
      if (!var) return std::nullopt;
      const char* v = std::getenv(var->c_str());
      if (!v) {
        error(parent[key + "_env"], join(path, key + "_env"),
              "environment variable " + *var + " is not set");
        return std::nullopt;
      }
      return std::string(v);
    }
    if (parent[key + "_file"]) {
      auto fname = str(parent, path, (key + "_file").c_str());
      if (!fname) return std::nullopt;
      struct stat st {};
      if (::stat(fname->c_str(), &st) != 0) {
        error(parent[key + "_file"], join(path, key + "_file"), "cannot read " + *fname);
        return std::nullopt;
      }
      if (st.st_mode & S_IROTH) {
        // A secret other local users can read is not a secret.
        error(parent[key + "_file"], join(path, key + "_file"),
              *fname + " is world-readable; chmod o-r it");
        return std::nullopt;
      }
      std::ifstream in(*fname);
      std::string v;
      std::getline(in, v);
      if (!in && v.empty()) {
        error(parent[key + "_file"], join(path, key + "_file"), "cannot read " + *fname);
        return std::nullopt;
      }
      return v;
    }
    if (required) error(parent, join(path, key), "required key is missing");
    return std::nullopt;
  }

  static std::string join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }

 private:
  void add(std::vector<ConfigError>& to, const YAML::Node& n, const std::string& key,
           const std::string& msg) {
    ConfigError e;
    e.file = file_;
    if (n && n.Mark().line >= 0) {
      e.line = n.Mark().line + 1;
      e.column = n.Mark().column + 1;
    }
    e.key = key;
    e.message = msg;
    to.push_back(std::move(e));
  }

  std::string file_;
  LoadResult& out_;
};

std::optional<ChapSecret> read_chap(Reader& r, const YAML::Node& t, const std::string& path) {
  if (!t) return std::nullopt;
  if (!r.map(t, path)) return std::nullopt;
  r.check_keys(t, path, {"user", "secret", "secret_file", "secret_env"});
  auto user = r.str(t, path, "user", true);
  auto secret = r.secret(t, path, "secret", true);
  if (!user || !secret) return std::nullopt;
  // RFC 7143 §9.2.1: a secret of less than 96 bits needs IPsec, which we do not do: refuse it.
  // The Windows initiator accepts 12 to 16 bytes only: warn above that.
  if (secret->size() < 12)
    r.error(t, Reader::join(path, "secret"),
            "is " + std::to_string(secret->size()) +
                " bytes; RFC 7143 requires at least 12 (96 bits) without IPsec");
  else if (secret->size() > 16)
    r.warn(t, Reader::join(path, "secret"),
           "is " + std::to_string(secret->size()) +
               " bytes; the Windows initiator accepts only 12 to 16");
  return ChapSecret{*user, *secret};
}

void read_target(Reader& r, const YAML::Node& t, Config& c) {
  const std::string p = "target";
  if (!t) {
    r.error(t, p, "required section is missing");
    return;
  }
  if (!r.map(t, p)) return;
  r.check_keys(t, p,
               {"iqn", "alias", "portals", "chap", "mutual_chap", "require_chap", "discovery_chap",
                "allowed_initiators", "max_connections", "login_timeout_ms", "nop_interval_ms",
                "nop_timeout_ms"});
  auto& s = c.target;
  if (auto v = r.str(t, p, "iqn", true)) {
    if (!valid_iscsi_name(*v))
      r.error(t["iqn"], p + ".iqn", "'" + *v + "' is not an iSCSI name (iqn.YYYY-MM.domain:name)");
    s.iqn = *v;
  }
  if (auto v = r.str(t, p, "alias")) s.alias = *v;
  if (YAML::Node ps = t["portals"]) {
    if (!ps.IsSequence() || ps.size() == 0) {
      r.error(ps, p + ".portals", "must be a non-empty list of address:port");
    } else {
      for (size_t i = 0; i < ps.size(); ++i) {
        std::string key = p + ".portals[" + std::to_string(i) + "]";
        std::string v = ps[i].IsScalar() ? ps[i].Scalar() : "";
        size_t colon = v.rfind(':');
        Portal portal;
        uint32_t port = 0;
        bool ok = colon != std::string::npos && colon > 0;
        if (ok) {
          std::string_view ps_(v.data() + colon + 1, v.size() - colon - 1);
          auto [q, ec] = std::from_chars(ps_.data(), ps_.data() + ps_.size(), port);
          ok = ec == std::errc{} && q == ps_.data() + ps_.size() && port <= 65535;
          portal.address = v.substr(0, colon);
          if (portal.address.size() > 2 && portal.address.front() == '[')
            portal.address = portal.address.substr(1, portal.address.size() - 2);
          portal.port = uint16_t(port);
        }
        if (!ok)
          r.error(ps[i], key, "'" + v + "' is not address:port");
        else
          s.portals.push_back(portal);
      }
    }
  } else {
    s.portals.push_back(Portal{});
  }
  s.chap = read_chap(r, t["chap"], p + ".chap");
  s.mutual_chap = read_chap(r, t["mutual_chap"], p + ".mutual_chap");
  if (auto v = r.boolean(t, p, "require_chap")) s.require_chap = *v;
  if (auto v = r.boolean(t, p, "discovery_chap")) s.discovery_chap = *v;
  if (s.require_chap && !s.chap && !t["chap"])
    r.error(t["require_chap"], p + ".require_chap", "is true but no target.chap is configured");
  if (s.mutual_chap && !s.chap)
    r.error(t["mutual_chap"], p + ".mutual_chap", "needs target.chap as well");
  // RFC 7143 §9.2.1: a secret used to authenticate initiators MUST NOT also authenticate the
  // target (one captured exchange would then answer the other direction).
  if (s.mutual_chap && s.chap && s.mutual_chap->secret == s.chap->secret)
    r.error(t["mutual_chap"], p + ".mutual_chap.secret", "must differ from target.chap.secret");
  if (YAML::Node a = t["allowed_initiators"]) {
    if (!a.IsSequence()) {
      r.error(a, p + ".allowed_initiators", "must be a list of initiator names");
    } else {
      for (size_t i = 0; i < a.size(); ++i) {
        std::string v = a[i].IsScalar() ? a[i].Scalar() : "";
        if (!valid_iscsi_name(v))
          r.error(a[i], p + ".allowed_initiators[" + std::to_string(i) + "]",
                  "'" + v + "' is not an iSCSI name");
        s.allowed_initiators.push_back(v);
      }
    }
  }
  if (auto v = r.integer<uint32_t>(t, p, "max_connections", 1, 1000000)) s.max_connections = *v;
  if (auto v = r.integer<uint32_t>(t, p, "login_timeout_ms", 100, 600000)) s.login_timeout_ms = *v;
  if (auto v = r.integer<uint32_t>(t, p, "nop_interval_ms", 0, 3600000)) s.nop_interval_ms = *v;
  if (auto v = r.integer<uint32_t>(t, p, "nop_timeout_ms", 100, 3600000)) s.nop_timeout_ms = *v;
}

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

// Only literal loopback addresses: the admin endpoint has no authentication of its own.
bool loopback_address(const std::string& a) {
  in_addr v4{};
  if (::inet_pton(AF_INET, a.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, a.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

void read_admin(Reader& r, const YAML::Node& t, Config& c) {
  const std::string p = "admin";
  auto& s = c.admin;
  if (!t || !r.map(t, p)) return;
  r.check_keys(t, p, {"socket", "socket_mode", "listen"});
  if (auto v = r.str(t, p, "socket")) {
    if (v->size() >= sizeof(sockaddr_un{}.sun_path))
      r.error(t["socket"], p + ".socket",
              "is longer than a Unix socket path may be (" +
                  std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes)");
    s.socket = *v;
    if (v->empty()) s.socket = "-";  // explicitly off; resolved in load_node
  }
  if (auto v = r.str(t, p, "socket_mode")) {
    if (*v == "0600" || *v == "600")
      s.socket_mode = 0600;
    else if (*v == "0660" || *v == "660")
      s.socket_mode = 0660;
    else
      r.error(t["socket_mode"], p + ".socket_mode", "must be 0600 or 0660");
  }
  if (auto v = r.str(t, p, "listen")) {
    auto colon = v->rfind(':');
    unsigned port = 0;
    std::from_chars_result pr{};
    if (colon != std::string::npos)
      pr = std::from_chars(v->data() + colon + 1, v->data() + v->size(), port);
    if (colon == std::string::npos || pr.ec != std::errc{} || pr.ptr != v->data() + v->size() ||
        port > 65535) {
      r.error(t["listen"], p + ".listen", "'" + *v + "' is not address:port");
      return;
    }
    Portal l;
    l.address = v->substr(0, colon);
    if (l.address.size() > 2 && l.address.front() == '[')
      l.address = l.address.substr(1, l.address.size() - 2);
    l.port = uint16_t(port);
    if (!loopback_address(l.address))
      r.error(t["listen"], p + ".listen",
              "'" + l.address +
                  "' is not a loopback address (127.0.0.0/8 or ::1); the admin endpoint "
                  "must not be reachable from the network");
    else
      s.http = l;
  }
}

void read_luns(Reader& r, const YAML::Node& t, Config& c) {
  const std::string p = "luns";
  if (!t) {
    r.error(t, p, "required section is missing (a list of LUNs)");
    return;
  }
  if (!t.IsSequence()) {
    r.error(t, p, "must be a list of LUNs");
    return;
  }
  std::set<uint32_t> ids;
  std::set<std::string> containers, paths, names;
  for (size_t i = 0; i < t.size(); ++i) {
    const YAML::Node n = t[i];
    std::string lp = p + "[" + std::to_string(i) + "]";
    if (!r.map(n, lp)) continue;
    r.check_keys(n, lp,
                 {"id", "name", "backend", "path", "container", "size", "block_size",
                  "physical_block_size", "chunk_size", "read_only", "thin", "write_cache",
                  "storage_policy", "compression", "serial"});
    Lun lun;
    lun.line = n.Mark().line + 1;
    lun.id = uint32_t(i);
    if (auto v = r.integer<uint32_t>(n, lp, "id", 0, 16383)) lun.id = *v;
    if (!ids.insert(lun.id).second)
      r.error(n["id"] ? n["id"] : n, lp + ".id", "duplicate LUN id " + std::to_string(lun.id));
    if (auto v = r.str(n, lp, "name")) lun.name = *v;
    if (lun.name.empty()) lun.name = "lun" + std::to_string(lun.id);
    // The name is a directory under state_dir: keep it a plain file name.
    if (!std::regex_match(lun.name, std::regex("[A-Za-z0-9][A-Za-z0-9._-]{0,63}")))
      r.error(n["name"], lp + ".name",
              "'" + lun.name + "' must be 1 to 64 of A-Z a-z 0-9 . _ - (not starting with . _ -)");
    if (!names.insert(lun.name).second)
      r.error(n["name"] ? n["name"] : n, lp + ".name", "duplicate LUN name " + lun.name);
    if (auto v = r.str(n, lp, "backend")) {
      if (*v == "swift")
        lun.backend = Backend::swift;
      else if (*v == "file")
        lun.backend = Backend::file;
      else
        r.error(n["backend"], lp + ".backend", "must be swift or file, got '" + *v + "'");
    }
    if (auto v = r.size(n, lp, "size", true)) lun.size = *v;
    if (auto v = r.integer<uint32_t>(n, lp, "block_size", 512, 4096)) {
      if (*v != 512 && *v != 4096)
        r.error(n["block_size"], lp + ".block_size", "must be 512 or 4096");
      lun.block_size = *v;
    }
    if (auto v = r.integer<uint32_t>(n, lp, "physical_block_size", 512, 65536)) {
      // READ CAPACITY (16) reports it as a power-of-two exponent over the logical block.
      if (*v < lun.block_size || (*v & (*v - 1)))
        r.error(n["physical_block_size"], lp + ".physical_block_size",
                "must be a power of two, at least block_size");
      lun.physical_block_size = *v;
    }
    if (lun.size && lun.size % lun.block_size)
      r.error(n["size"], lp + ".size", "must be a multiple of block_size");
    if (lun.size && lun.size < lun.block_size * 16ull)
      r.error(n["size"], lp + ".size", "is too small (at least 16 blocks)");
    if (auto v = r.size(n, lp, "chunk_size")) {
      if (*v < (1ull << 20) || *v > (64ull << 20) || (*v & (*v - 1)))
        r.error(n["chunk_size"], lp + ".chunk_size", "must be a power of two from 1MiB to 64MiB");
      lun.chunk_size = *v;
    }
    if (auto v = r.boolean(n, lp, "read_only")) lun.read_only = *v;
    if (auto v = r.boolean(n, lp, "thin")) lun.thin = *v;
    if (auto v = r.boolean(n, lp, "write_cache")) lun.write_cache = *v;
    if (auto v = r.str(n, lp, "storage_policy")) lun.storage_policy = *v;
    if (auto v = r.str(n, lp, "compression")) {
      if (*v != "none" && *v != "zstd")
        r.error(n["compression"], lp + ".compression", "must be none or zstd");
      lun.compression = *v;
    }
    if (auto v = r.str(n, lp, "serial")) {
      // SPC-4 7.8.16: PRODUCT SERIAL NUMBER is ASCII data (printable, 0x20-0x7E).
      bool printable = true;
      for (char ch : *v)
        printable &= ch >= 0x20 && ch <= 0x7e;
      if (v->size() > 32 || !printable)
        r.error(n["serial"], lp + ".serial", "must be at most 32 printable ASCII characters");
      lun.serial = *v;
    }
    if (lun.backend == Backend::file) {
      if (auto v = r.str(n, lp, "path", true)) lun.path = *v;
      if (!lun.path.empty() && !paths.insert(lun.path).second)
        r.error(n["path"], lp + ".path", "duplicate path " + lun.path);
    } else {
      lun.container = lun.name;
      if (auto v = r.str(n, lp, "container")) lun.container = *v;
      if (lun.container.empty() || lun.container.size() > 256 ||
          lun.container.find('/') != std::string::npos)
        r.error(n["container"] ? n["container"] : n, lp + ".container",
                "must be 1 to 256 characters without '/'");
      if (!containers.insert(lun.container).second)
        r.error(n["container"] ? n["container"] : n, lp + ".container",
                "duplicate container " + lun.container);
    }
    c.luns.push_back(lun);
  }
}

LoadResult load_node(const YAML::Node& root, const std::string& name) {
  LoadResult out;
  Reader r(name, out);
  if (!root.IsMap()) {
    r.error(root, "", "the configuration must be a YAML mapping");
    return out;
  }
  r.check_keys(root, "", {"target", "swift", "cache", "luns", "admin", "state_dir", "log_level"});
  Config c;
  c.file = name;
  read_target(r, root["target"], c);
  read_swift(r, root["swift"], c);
  read_cache(r, root["cache"], c);
  read_luns(r, root["luns"], c);
  read_admin(r, root["admin"], c);
  if (auto v = r.str(root, "", "state_dir")) c.state_dir = *v;
  if (c.admin.socket.empty())
    c.admin.socket = c.state_dir + "/admin.sock";
  else if (c.admin.socket == "-")
    c.admin.socket.clear();
  if (auto v = r.str(root, "", "log_level")) {
    static const std::set<std::string> kLevels{"trace", "debug", "info", "warn", "error", "off"};
    if (!kLevels.count(*v))
      r.error(root["log_level"], "log_level", "must be trace, debug, info, warn, error or off");
    c.log_level = *v;
  }
  uint64_t swift_luns = 0;
  uint64_t largest_chunk = 0;
  for (const auto& l : c.luns) {
    if (l.backend == Backend::swift) {
      ++swift_luns;
      largest_chunk = std::max(largest_chunk, l.chunk_size);
    }
  }
  if (swift_luns && !c.swift)
    r.error(root, "swift", "LUNs with backend swift need a swift section");
  // The daemon shares cache.size evenly between the Swift LUNs (one cache file each), and a
  // cache file must hold a few whole chunks to complete partial ones and keep uploading.
  if (swift_luns && c.cache.size / swift_luns < largest_chunk * 4)
    r.error(root["cache"] && root["cache"]["size"] ? root["cache"]["size"] : root, "cache.size",
            "must hold at least 4 chunks of the largest chunk_size for each of the " +
                std::to_string(swift_luns) + " Swift LUNs (at least " +
                std::to_string(largest_chunk * 4 * swift_luns) + " bytes)");
  if (out.errors.empty()) out.config = std::move(c);
  return out;
}

}  // namespace

LoadResult load_string(const std::string& yaml, const std::string& name) {
  try {
    return load_node(YAML::Load(yaml), name);
  } catch (const YAML::Exception& e) {
    LoadResult out;
    out.errors.push_back(ConfigError{name, e.mark.line + 1, e.mark.column + 1, "", e.msg});
    return out;
  }
}

LoadResult load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    LoadResult out;
    out.errors.push_back(ConfigError{path, 0, 0, "", "cannot open the file"});
    return out;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return load_string(ss.str(), path);
}

}  // namespace swiftness::config
