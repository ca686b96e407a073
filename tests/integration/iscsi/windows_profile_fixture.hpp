// The fixture shared by the Windows-profile tests (windows_profile_*_test.cpp): the daemon's
// configuration (a file LUN, or with SWIFTNESS_WINDOWS_PROFILE_BACKEND=swift a Swift-backed LUN
// on the real Swift of the swift_aio fixture), sessions of the Microsoft-initiator client
// (ms_initiator.hpp), and the CDB and data helpers the tests share.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/iscsi/ms_initiator.hpp"
#include "tests/integration/support/process.hpp"
#include "tests/integration/swift/swift_aio_env.hpp"

namespace swiftness::testing::windows_profile {

using namespace std::chrono_literals;

inline constexpr const char* kIqn = "iqn.2026-11.io.swiftness:windows";
inline constexpr uint64_t kLunBytes = 64ull << 20;
inline constexpr uint32_t kBlock = 512;
inline constexpr uint64_t kBlocks = kLunBytes / kBlock;
// Windows' secrets must be 12-16 bytes (the note §3, events 35/36).
inline constexpr const char* kChapUser = "winhost";
inline constexpr const char* kChapSecret = "twelve-bytes";  // 12
inline constexpr const char* kMutualUser = "swiftness";
inline constexpr const char* kMutualSecret = "sixteen-bytes-ok";  // 16

inline bool on_swift() {
  const char* backend = std::getenv("SWIFTNESS_WINDOWS_PROFILE_BACKEND");
  return backend != nullptr && std::string_view(backend) == "swift";
}

inline std::string lun0_config() {
  if (!on_swift())
    return "luns:\n  - {id: 0, name: win, backend: file, path: '@DIR@/win.img', size: 64MiB, "
           "thin: true}\n";
  auto env = swift_aio_env();
  if (!env) return "";
  std::random_device rd;
  std::string container = "it-windows-" + std::to_string(rd()) + std::to_string(rd());
  return "swift:\n  auth_url: " + env->auth_url + "\n  user: \"" + env->user +
         "\"\n  key: " + env->key +
         "\ncache:\n  path: '@DIR@/cache'\n  size: 256MiB\n  shutdown_drain_s: 30\n"
         "luns:\n  - {id: 0, name: win, backend: swift, container: " +
         container + ", size: 64MiB, chunk_size: 1MiB}\n";
}

inline std::string config(bool chap, bool mutual, const std::string& target_extra) {
  std::string c = std::string("target:\n  iqn: ") + kIqn +
                  "\n  alias: windows\n  portals: [\"127.0.0.1:0\"]\n  login_timeout_ms: 5000\n" +
                  target_extra;
  if (chap) c += std::string("  chap: {user: ") + kChapUser + ", secret: " + kChapSecret + "}\n";
  if (mutual)
    c += std::string("  mutual_chap: {user: ") + kMutualUser + ", secret: " + kMutualSecret + "}\n";
  c += "state_dir: '@DIR@/state'\nlog_level: info\n" + lun0_config() +
       "  - {id: 1, name: second, backend: file, path: '@DIR@/second.img', size: 16MiB}\n";
  return c;
}

inline std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937 g(seed);
  for (auto& b : v)
    b = uint8_t(g());
  return v;
}

inline std::vector<uint8_t> cdb10(uint8_t op, uint32_t lba, uint16_t blocks, uint8_t byte1 = 0) {
  std::vector<uint8_t> c(10, 0);
  c[0] = op;
  c[1] = byte1;
  MsInitiator::put32(c, 2, lba);
  MsInitiator::put16(c, 7, blocks);
  return c;
}
inline std::vector<uint8_t> inquiry(bool evpd, uint8_t page, uint8_t alloc) {
  return {0x12, uint8_t(evpd ? 1 : 0), page, 0, alloc, 0};
}
inline std::vector<uint8_t> mode_sense6(uint8_t page, uint8_t pc, uint8_t alloc) {
  return {0x1a, 0, uint8_t(pc << 6 | page), 0, alloc, 0};
}

class WindowsProfile : public ::testing::Test {
 protected:
  void start(bool chap = false, bool mutual = false, const std::string& target_extra = "") {
    if (on_swift()) {
      ASSERT_TRUE(swift_aio_env()) << "the swift_aio fixture left no environment file";
    }
    daemon_ = std::make_unique<Daemon>(dir_.path(), config(chap, mutual, target_extra));
    ASSERT_TRUE(daemon_->start(60s)) << daemon_->log();
  }
  void TearDown() override {
    if (HasFailure() && daemon_) std::cerr << "--- daemon log ---\n" << daemon_->log();
  }

  std::unique_ptr<MsInitiator> connect(const std::string& host, uint16_t qualifier) {
    return std::make_unique<MsInitiator>(daemon_->port(), ms_initiator_name(host),
                                         ms_isid(qualifier));
  }
  std::unique_ptr<MsInitiator> session(const std::string& host = "win-node1",
                                       uint16_t qualifier = 0, MsLoginOptions o = {}) {
    auto c = connect(host, qualifier);
    EXPECT_TRUE(c->connected());
    o.target = kIqn;
    auto r = c->login(o);
    EXPECT_TRUE(r.ok) << "login status 0x" << std::hex << r.status;
    return c;
  }
  // Windows retries commands that meet a unit attention; the first command of a new nexus
  // meets POWER ON, RESET (29h). Returns the UAs seen.
  static std::vector<std::string> clear_ua(MsInitiator& c, uint64_t lun = 0) {
    std::vector<std::string> seen;
    for (int i = 0; i < 8; ++i) {
      auto r = c.command({0, 0, 0, 0, 0, 0}, Dir::none, 0, {}, lun);
      if (r.good()) return seen;
      EXPECT_EQ(r.status, 0x02) << sense_of(r);
      EXPECT_EQ(r.sense_key, 0x6) << "only UNIT ATTENTION may fail TEST UNIT READY: "
                                  << sense_of(r);
      seen.push_back(sense_of(r));
    }
    ADD_FAILURE() << "unit attentions did not clear";
    return seen;
  }
  static ScsiResult write10(MsInitiator& c, uint32_t lba, const std::vector<uint8_t>& data,
                            uint64_t lun = 0) {
    return c.command(cdb10(0x2a, lba, uint16_t(data.size() / kBlock)), Dir::write,
                     uint32_t(data.size()), data, lun);
  }
  static ScsiResult read10(MsInitiator& c, uint32_t lba, uint32_t bytes, uint64_t lun = 0) {
    return c.command(cdb10(0x28, lba, uint16_t(bytes / kBlock)), Dir::read, bytes, {}, lun);
  }

  TempDir dir_;
  std::unique_ptr<Daemon> daemon_;
};

}  // namespace swiftness::testing::windows_profile
