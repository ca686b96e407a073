// Where the CTest fixture `swift_aio` (tests/integration/swift/CMakeLists.txt) left its Swift.
// Tests that need the real Swift add `FIXTURES_REQUIRED swift_aio` and read this file:
// <build dir>/swift-aio/env, one KEY=VALUE per line (SWIFT_AUTH_URL, SWIFT_USER, SWIFT_KEY,
// SWIFT_PORT, SWIFT_DIR). The environment variable SWIFTNESS_SWIFT_AIO_ENV overrides the path.
#pragma once

#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <string>

namespace swiftness::testing {

struct SwiftAioEnv {
  std::string auth_url;  // http://127.0.0.1:<port>/auth/v1.0 (TempAuth v1)
  std::string user;      // test:tester
  std::string key;       // testing
  int port = 0;          // proxy; backends on port+1..3, memcached on port+4
  std::string dir;       // the instance's data directory
};

// The default path is baked in by CMake (SWIFTNESS_SWIFT_AIO_ENV_FILE); nullopt if no Swift.
inline std::optional<SwiftAioEnv> swift_aio_env() {
  std::string path;
  if (const char* p = std::getenv("SWIFTNESS_SWIFT_AIO_ENV")) {
    path = p;
  } else {
#ifdef SWIFTNESS_SWIFT_AIO_ENV_FILE
    path = SWIFTNESS_SWIFT_AIO_ENV_FILE;
#endif
  }
  std::ifstream in(path);
  if (path.empty() || !in) return std::nullopt;
  std::map<std::string, std::string> kv;
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  SwiftAioEnv env{kv["SWIFT_AUTH_URL"], kv["SWIFT_USER"], kv["SWIFT_KEY"], 0, kv["SWIFT_DIR"]};
  if (env.auth_url.empty()) return std::nullopt;
  env.port = std::atoi(kv["SWIFT_PORT"].c_str());
  return env;
}

}  // namespace swiftness::testing
