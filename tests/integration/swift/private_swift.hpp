// A Swift of the test's own (deploy/swift-aio.sh in a private temp dir on free ports), for
// settings the shared `swift_aio` fixture must not have, such as a 2-second token life. Stopped
// (by the script, by PID) when the object goes.
#pragma once

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "tests/integration/swift/swift_aio_env.hpp"

namespace swiftness::testing {

// A base port with `count` consecutive free ports on 127.0.0.1 (SO_REUSEADDR, as the servers).
inline uint16_t free_port_base(int count) {
  namespace ip = boost::asio::ip;
  boost::asio::io_context ctx;
  for (int attempt = 0; attempt < 50; ++attempt) {
    ip::tcp::acceptor probe(ctx, {ip::make_address("127.0.0.1"), 0});
    const uint16_t base = probe.local_endpoint().port();
    probe.close();
    if (base > 65535 - count) continue;
    bool ok = true;
    for (int i = 0; i < count && ok; ++i) {
      boost::system::error_code ec;
      ip::tcp::acceptor a(ctx);
      a.open(ip::tcp::v4(), ec);
      a.set_option(ip::tcp::acceptor::reuse_address(true), ec);
      a.bind({ip::make_address("127.0.0.1"), static_cast<uint16_t>(base + i)}, ec);
      ok = !ec;
    }
    if (ok) return base;
  }
  return 0;
}

inline std::string make_temp_dir(const std::string& tag) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp != nullptr ? tmp : "/tmp") + "/" + tag + ".XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) return {};
  return templ;
}

class PrivateSwift {
 public:
  // `env` like "SWIFT_TOKEN_LIFE=2"; started with SWIFT_WORKERS=0 (the lightest).
  explicit PrivateSwift(const std::string& env = {}) {
    dir_ = make_temp_dir("swiftness-swift");
    port_ = free_port_base(5);
    if (dir_.empty() || port_ == 0) return;
    const std::string cmd = "env SWIFT_WORKERS=0 " + env + " " + SWIFTNESS_SWIFT_AIO_SH +
                            " start " + dir_ + " " + std::to_string(port_) + " >" + dir_ +
                            ".log 2>&1";
    started_ = std::system(cmd.c_str()) == 0;
  }
  ~PrivateSwift() {
    if (dir_.empty()) return;
    const std::string cmd = std::string(SWIFTNESS_SWIFT_AIO_SH) + " stop " + dir_ + " " +
                            std::to_string(port_) + " >/dev/null 2>&1";
    (void)std::system(cmd.c_str());
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    std::filesystem::remove(dir_ + ".log", ec);
  }
  PrivateSwift(const PrivateSwift&) = delete;
  PrivateSwift& operator=(const PrivateSwift&) = delete;

  bool started() const { return started_; }
  std::string log_path() const { return dir_ + ".log"; }
  SwiftAioEnv env() const {
    return {"http://127.0.0.1:" + std::to_string(port_) + "/auth/v1.0", "test:tester", "testing",
            port_, dir_};
  }

 private:
  std::string dir_;
  uint16_t port_ = 0;
  bool started_ = false;
};

}  // namespace swiftness::testing
