// The daemon configuration the Swift fault tests write: one target on a free 127.0.0.1 portal,
// the Swift of `env`, cache and state in the daemon's own directory (@DIR@, see Daemon), one
// Swift LUN with 4 KiB blocks and 1 MiB chunks. Written in one place so that a setting added to
// the loader, or a default the tests must not depend on, is handled once for all of them.
#pragma once

#include <string>

#include "tests/integration/swift/swift_aio_env.hpp"

namespace swiftness::testing {

struct SwiftLunConfig {
  std::string iqn{};
  std::string container{};
  std::string size = "256MiB";        // the LUN's
  std::string cache_size = "256MiB";  // the cache file's
  std::string auth_url{};             // empty: env.auth_url (a test may put a proxy between)
  std::string swift_extra{};          // more `swift:` lines, each "  key: value\n"
  std::string cache_extra{};          // more `cache:` lines, each "  key: value\n"
  std::string target_extra{};         // more `target:` lines, each "  key: value\n"
};

inline std::string swift_lun_yaml(const SwiftAioEnv& env, const SwiftLunConfig& c) {
  const std::string& auth_url = c.auth_url.empty() ? env.auth_url : c.auth_url;
  return "target:\n  iqn: " + c.iqn + "\n  portals: [\"127.0.0.1:0\"]\n" + c.target_extra +
         "swift:\n  auth_url: " + auth_url + "\n  user: \"" + env.user + "\"\n  key: " + env.key +
         "\n" + c.swift_extra + "cache:\n  path: '@DIR@/cache'\n  size: " + c.cache_size +
         "\n  shutdown_drain_s: 120\n  max_dirty_age_s: 1\n" + c.cache_extra +
         "state_dir: '@DIR@/state'\n"
         "luns:\n  - {id: 0, name: vol, backend: swift, container: " +
         c.container + ", size: " + c.size + ", block_size: 4096, chunk_size: 1MiB}\n";
}

}  // namespace swiftness::testing
