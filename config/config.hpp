// The daemon's YAML configuration: types, defaults and validation. Every error names the file,
// line, column and key, and all errors are reported at once (nothing starts on any error).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace swiftness::config {

struct ChapSecret {
  std::string user;
  std::string secret;  // never logged or printed
};

struct Portal {
  std::string address = "127.0.0.1";
  uint16_t port = 3260;
};

struct TargetSection {
  std::string iqn;
  std::string alias;
  std::vector<Portal> portals;
  std::optional<ChapSecret> chap;         // initiators authenticate with this
  std::optional<ChapSecret> mutual_chap;  // the target authenticates itself with this
  bool require_chap = false;
  bool discovery_chap = false;
  std::vector<std::string> allowed_initiators;
  uint32_t max_connections = 1024;
  uint32_t login_timeout_ms = 15000;
  uint32_t nop_interval_ms = 5000;
  uint32_t nop_timeout_ms = 15000;
  uint32_t slow_command_ms = 30000;  // a command at the device this long is logged
};

struct SwiftSection {
  std::string auth_url;
  int auth_version = 1;  // 1 = TempAuth, 3 = Keystone v3
  std::string user;
  std::string key;  // never logged or printed
  // Keystone v3
  std::string project;
  std::string project_domain = "Default";
  std::string user_domain = "Default";
  std::string region;
  std::string interface = "public";
  // TLS
  std::string ca_file;
  bool verify_tls = true;
  // One attempt of one request, connect to last byte; failed attempts of idempotent requests
  // are retried (5 attempts, backoff with jitter).
  uint32_t request_timeout_ms = 30000;
};

struct CacheSection {
  std::string path = "/var/lib/swiftness/cache";
  uint64_t size = 1ull << 30;
  double dirty_high_watermark = 0.75;  // writes wait above this share of dirty data
  double dirty_low_watermark = 0.5;    // the flusher works hard until below this
  uint32_t flush_concurrency = 8;
  uint32_t max_dirty_age_s = 30;
  uint32_t shutdown_drain_s = 60;     // SIGTERM waits this long for dirty data to reach Swift
  uint32_t fetch_concurrency = 8;     // chunk downloads in flight per LUN (misses + read-ahead)
  uint32_t read_ahead_chunks = 8;     // chunks fetched ahead of a sequential reader; 0: off
  uint32_t write_wait_limit_s = 20;   // a write waiting for cache room fails after this
  uint32_t read_wait_limit_s = 20;    // a read waiting for Swift (cold) fails after this
  uint32_t index_interval_ms = 5000;  // debounce of index checkpoints to Swift
  uint32_t gc_grace_s = 60;           // superseded chunk objects are deleted this long after
  uint32_t orphan_grace_s = 900;      // unreferenced objects found by listing live this long
  uint32_t orphan_interval_s = 1800;  // period of the listing pass; 0: never
  uint64_t checkpoint_journal = 16ull << 20;  // local checkpoint once the journal is this big
  uint64_t checkpoint_data = 256ull << 20;    // ... or this much data was written since
};

// The local admin endpoint (/metrics, /status, the CLI): a Unix socket and, optionally, HTTP on a
// loopback address. Never reachable from the network: other addresses are refused.
struct AdminSection {
  std::string socket;           // default <state_dir>/admin.sock; "" = no socket
  uint32_t socket_mode = 0600;  // 0600 (owner only) or 0660 (the group too)
  std::optional<Portal> http;   // `listen: 127.0.0.1:9324`; port 0 = any free port
};

enum class Backend { swift, file };

struct Lun {
  uint32_t id = 0;
  std::string name;
  Backend backend = Backend::swift;
  std::string path;       // file backend
  std::string container;  // swift backend
  uint64_t size = 0;      // bytes
  uint32_t block_size = 512;
  uint32_t physical_block_size = 0;  // file backend: reported physical block (0 = block_size)
  uint64_t chunk_size = 4ull << 20;
  bool read_only = false;
  bool thin = true;
  bool write_cache = true;  // caching mode page WCE
  std::string storage_policy;
  std::string compression = "none";  // none | zstd
  std::string serial;
  // Where the line of this LUN's entry is, for messages about it later.
  int line = 0;
};

struct Config {
  std::string file;
  TargetSection target;
  std::optional<SwiftSection> swift;
  CacheSection cache;
  std::vector<Lun> luns;
  AdminSection admin;
  std::string state_dir = "/var/lib/swiftness/state";  // reservations, LUN identities
  std::string log_level = "info";
};

struct ConfigError {
  std::string file;
  int line = 0;     // 1-based; 0 when the whole file is concerned
  int column = 0;   // 1-based
  std::string key;  // dotted path: "luns[2].block_size"
  std::string message;
  std::string to_string() const;  // "file:line:column: key: message"
};

struct LoadResult {
  std::optional<Config> config;
  std::vector<ConfigError> errors;
  std::vector<ConfigError> warnings;
};

LoadResult load_file(const std::string& path);
LoadResult load_string(const std::string& yaml, const std::string& name = "<string>");

// "100GiB", "4 MiB", "512", "1T" (binary units; KB/MB/GB/TB are decimal). nullopt if malformed.
std::optional<uint64_t> parse_size(std::string_view text);
// RFC 3720 §3.2.6.3: iqn.YYYY-MM.reversed.domain[:anything], eui.<16 hex>, naa.<16|32 hex>.
bool valid_iscsi_name(std::string_view name);

}  // namespace swiftness::config
