// Session reinstatement (RFC 7143 §6.3.5) while a command of the old session is still at the
// device, over raw sockets against the daemon with a Swift LUN on a Swift of the test's own.
// The old session's READ of a cold block waits for a stopped Swift proxy; the same initiator
// (name and ISID) logs in again. The new session must not reach full feature phase before the
// old command has ended: otherwise a WRITE the initiator retries on the new session could be
// overtaken by the old copy of it landing later.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/integration/iscsi/raw_client.hpp"
#include "tests/integration/support/process.hpp"
#include "tests/integration/support/swift_lun_config.hpp"
#include "tests/integration/swift/private_swift.hpp"

using namespace swiftness::testing;
using namespace std::chrono_literals;

namespace {

constexpr const char* kIqn = "iqn.2026-11.io.swiftness:reinstate";
constexpr const char* kInitiator = "iqn.2026-11.io.swiftness:reinstating-initiator";

std::string config(const SwiftAioEnv& env) {
  return swift_lun_yaml(
      env, {.iqn = kIqn, .container = "reinstate", .size = "64MiB", .cache_size = "64MiB"});
}

pid_t proxy_pid(const SwiftAioEnv& env) {
  std::ifstream in(std::filesystem::path(env.dir) / "run" / "proxy.pid");
  long pid = 0;
  in >> pid;
  return pid_t(pid);
}

// READ (10) of `blocks` blocks at `lba` on LUN 0; returns the command PDU.
PduBuilder read10(RawClient& c, uint32_t itt, uint32_t lba, uint16_t blocks, uint32_t bytes) {
  auto b = c.test_unit_ready(itt);  // takes the next CmdSN; the rest is filled in here
  b.flags(0x80 | 0x40).field32(20, bytes);
  const uint8_t cdb[10] = {
      0x28,         0, uint8_t(lba >> 24),   uint8_t(lba >> 16), uint8_t(lba >> 8),
      uint8_t(lba), 0, uint8_t(blocks >> 8), uint8_t(blocks),    0};
  for (size_t i = 0; i < sizeof cdb; ++i)
    b.byte(32 + i, cdb[i]);
  return b;
}

}  // namespace

TEST(SessionReinstatement, WaitsForTheOldSessionsCommandAtTheDevice) {
  PrivateSwift swift;
  ASSERT_TRUE(swift.started()) << "private Swift did not start; see " << swift.log_path();
  TempDir dir;
  Daemon d(dir.path(), config(swift.env()));
  ASSERT_TRUE(d.start(60s)) << d.log();
  // 1 MiB in Swift only: written, drained by SIGTERM, the cache wiped.
  auto w = run(
      {rwverify_binary(), "-q", "--write-only", "--seed", "51", "--range", "0:256", d.url(kIqn, 0)},
      120s);
  ASSERT_EQ(w.exit_code, 0) << w.output << d.log();
  ASSERT_EQ(d.stop(150s), 0) << d.log();
  std::filesystem::remove_all(dir.path() / "cache");
  ASSERT_TRUE(d.start(60s)) << d.log();

  const pid_t proxy = proxy_pid(swift.env());
  ASSERT_GT(proxy, 1);
  RawClient old_session(d.port());
  ASSERT_TRUE(old_session.login(kIqn, kInitiator));
  // Unit attentions a new nexus starts with (power on, reset) go to TEST UNIT READYs first.
  for (uint32_t itt = 1; itt <= 4; ++itt) {
    old_session.send(old_session.test_unit_ready(itt));
    auto r = old_session.receive();
    ASSERT_TRUE(r) << d.log();
    if (r->bhs.b[3] == 0) break;
  }
  ASSERT_EQ(::kill(proxy, SIGSTOP), 0);
  // A cold 4 KiB read: it waits for the stopped proxy.
  old_session.send(read10(old_session, 100, 8, 1, 4096));
  EXPECT_FALSE(old_session.receive(1000)) << "the cold read did not wait for Swift";

  // The proxy comes back 3 s from now; until then the old READ is at the device.
  const auto resume_at = std::chrono::steady_clock::now() + 3s;
  std::thread resume([&] {
    std::this_thread::sleep_until(resume_at);
    ::kill(proxy, SIGCONT);
  });
  RawClient new_session(d.port());
  const bool logged_in = new_session.login(kIqn, kInitiator);  // same name, same ISID
  const auto logged_in_at = std::chrono::steady_clock::now();
  resume.join();
  ASSERT_TRUE(logged_in) << d.log();
  // Not before the old READ ended (some slack for the clocks of two processes).
  EXPECT_GE(logged_in_at, resume_at - 200ms)
      << "the new session reached full feature phase while the old session's command was "
         "still at the device";
  EXPECT_NE(d.log().find("session reinstatement"), std::string::npos) << d.log();

  // The new session works, and reads the block from Swift.
  bool good = false;
  for (uint32_t itt = 1; itt <= 6 && !good; ++itt) {
    new_session.send(read10(new_session, itt, 8, 1, 4096));
    while (auto r = new_session.receive(30000)) {
      if (r->bhs.itt() != itt) continue;
      if (r->bhs.opcode() == Opcode::scsi_response && r->bhs.b[3] != 0) break;  // a UA: again
      if (r->bhs.opcode() == Opcode::data_in && (r->bhs.flags() & 0x01)) {
        good = r->bhs.b[3] == 0;  // status in the final Data-In
        break;
      }
      if (r->bhs.opcode() == Opcode::scsi_response) {
        good = r->bhs.b[3] == 0;
        break;
      }
    }
  }
  EXPECT_TRUE(good) << d.log();
  EXPECT_EQ(d.stop(60s), 0) << d.log();
}
