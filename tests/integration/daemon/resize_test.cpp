// `swiftness lun resize` against the real daemon while libiscsi sessions are logged in: the
// LUN grows live, every session's next command ends in UNIT ATTENTION, CAPACITY DATA HAS
// CHANGED (2A/09), READ CAPACITY shows the new size, and blocks past the old end can be written
// and read back. A shrink is refused (exit 2) with nothing changed. A SIGHUP whose file grew a
// LUN grows it the same way. For a Swift LUN whose last chunk was partial and already in Swift,
// the new size survives kill -9 (lun.meta in Swift refuses the old size) and a fresh gateway
// with an empty cache reads everything back from Swift.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "tests/integration/admin/admin_client.hpp"
#include "tests/integration/daemon/iscsi_client.hpp"
#include "tests/integration/support/process.hpp"
#include "tests/integration/support/wait.hpp"
#include "tests/integration/swift/swift_aio_env.hpp"

using namespace swiftness::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

constexpr const char* kIqn = "iqn.2026-11.io.swiftness:resize";
constexpr int kCapacityChanged = 0x2a09;

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

CommandResult cli(const Daemon& d, std::vector<std::string> args) {
  args.insert(args.begin(), swiftness_binary());
  args.push_back("--config");
  args.push_back((d.dir() / "swiftness.yaml").string());
  return run(args, 120s);
}

// The LUN's size in /status.
uint64_t status_size(const Daemon& d, const std::string& name) {
  auto r = unix_http((d.dir() / "state" / "admin.sock").string(), "GET", "/status");
  if (!r || r->status != 200) return 0;
  const json::value st = json::parse(r->body);
  for (const auto& l : st.at("luns").as_array())
    if (l.at("name").as_string() == name) return json::value_to<uint64_t>(l.at("size"));
  return 0;
}

std::vector<uint8_t> pattern(uint64_t lba, size_t blocks, uint8_t seed) {
  std::vector<uint8_t> b(blocks * 512);
  for (size_t i = 0; i < b.size(); ++i)
    b[i] = uint8_t(seed + lba * 7 + i / 512 + (i % 251));
  return b;
}

void write_and_check(IscsiClient& s, uint64_t lba, size_t blocks, uint8_t seed) {
  auto w = pattern(lba, blocks, seed);
  auto wr = s.io(true, lba, w);
  ASSERT_TRUE(wr.ok) << "write at " << lba << ": " << wr.error;
  std::vector<uint8_t> r(w.size());
  auto rd = s.io(false, lba, r);
  ASSERT_TRUE(rd.ok) << "read at " << lba << ": " << rd.error;
  EXPECT_EQ(r, w) << "read back at " << lba;
}

void expect_reads(IscsiClient& s, uint64_t lba, size_t blocks, uint8_t seed) {
  std::vector<uint8_t> r(blocks * 512);
  auto rd = s.io(false, lba, r);
  ASSERT_TRUE(rd.ok) << "read at " << lba << ": " << rd.error;
  EXPECT_EQ(r, pattern(lba, blocks, seed)) << "data at " << lba;
}

// Both sessions' first command after the change is the unit attention, reported once.
void expect_capacity_ua(IscsiClient& a, IscsiClient& b) {
  for (IscsiClient* s : {&a, &b}) {
    auto t = s->test_unit_ready();
    EXPECT_TRUE(t.unit_attention) << "expected UNIT ATTENTION, got: " << (t.ok ? "GOOD" : t.error);
    EXPECT_EQ(t.asc_ascq, kCapacityChanged) << std::hex << t.asc_ascq;
    EXPECT_TRUE(s->test_unit_ready().ok) << "reported once";
  }
}

// The part both backends share: a live grow through the CLI seen by two sessions, writes past
// the old end, and a refused shrink. `old_blocks`, `new_blocks` in 512-byte blocks.
void grow_with_cli(const Daemon& d, const std::string& name, int lun, uint64_t old_blocks,
                   uint64_t new_blocks, uint8_t seed) {
  std::string err;
  auto a = IscsiClient::connect(d.portal(), kIqn, lun, &err);
  ASSERT_TRUE(a) << err;
  auto b = IscsiClient::connect(d.portal(), kIqn, lun, &err,
                                "iqn.2026-11.io.swiftness:second-initiator");
  ASSERT_TRUE(b) << err;
  ASSERT_EQ(a->read_capacity(), old_blocks);
  write_and_check(*a, old_blocks - 1, 1, seed);
  std::vector<uint8_t> past(512, 1);
  auto beyond = a->io(true, old_blocks, past);
  EXPECT_FALSE(beyond.ok || beyond.unit_attention) << "a write past the end must fail";

  const std::string before = read_file(d.dir() / "swiftness.yaml");
  const std::string new_size = std::to_string(new_blocks / 2) + "KiB";
  auto r = cli(d, {"lun", "resize", name, "--size", new_size});
  ASSERT_EQ(r.exit_code, 0) << r.output << d.log();
  EXPECT_NE(r.output.find("grew it live"), std::string::npos) << r.output;
  EXPECT_NE(read_file(d.dir() / "swiftness.yaml"), before) << "the file has the new size";

  expect_capacity_ua(*a, *b);
  EXPECT_EQ(a->read_capacity(), new_blocks);
  EXPECT_EQ(b->read_capacity(), new_blocks);
  EXPECT_EQ(status_size(d, name), new_blocks * 512);
  expect_reads(*a, old_blocks - 1, 1, seed);
  write_and_check(*a, old_blocks, 8, seed);
  write_and_check(*b, new_blocks - 8, 8, seed);

  // Shrinking: refused before anything changes.
  const std::string grown = read_file(d.dir() / "swiftness.yaml");
  auto shrink = cli(d, {"lun", "resize", name, "--size", std::to_string(old_blocks / 2) + "KiB"});
  EXPECT_EQ(shrink.exit_code, 2) << shrink.output;
  EXPECT_NE(shrink.output.find("shrinking is refused"), std::string::npos) << shrink.output;
  EXPECT_EQ(read_file(d.dir() / "swiftness.yaml"), grown);
  EXPECT_TRUE(a->test_unit_ready().ok) << "no unit attention: nothing changed";
  EXPECT_EQ(a->read_capacity(), new_blocks);
}

// After a restart: the grown size, what grow_with_cli() wrote past the old end, and the data
// written before the grow.
void check_grown(const Daemon& d) {
  std::string err;
  auto s = IscsiClient::connect(d.portal(), kIqn, 0, &err);
  ASSERT_TRUE(s) << err;
  ASSERT_EQ(s->read_capacity(), 81920u);
  expect_reads(*s, 31744, 8, 5);
  expect_reads(*s, 81920 - 8, 8, 5);
  expect_reads(*s, 31736, 4, 9);
}

}  // namespace

// ~1 s. A file LUN: live grow through the CLI, then through a SIGHUP with an edited file; the
// backing file grows with it; a SIGHUP shrink is refused.
TEST(Resize, FileLunGrowsLiveThroughTheCliAndThroughSighup) {
  TempDir dir;
  const std::string yaml =
      std::string("target:\n  iqn: ") + kIqn +
      "\n  portals: [\"127.0.0.1:0\"]\n"
      "cache:\n  path: '@DIR@/cache'\n  size: 64MiB\nstate_dir: '@DIR@/state'\n"
      "luns:\n  - {id: 0, name: disk0, backend: file, path: '@DIR@/disk0.img', size: 16MiB}\n";
  Daemon d(dir.path(), yaml);
  ASSERT_TRUE(d.start(30s)) << d.log();
  grow_with_cli(d, "disk0", 0, 32768, 65536, 3);
  EXPECT_EQ(fs::file_size(dir.path() / "disk0.img"), 32u << 20);

  std::string err;
  auto s = IscsiClient::connect(d.portal(), kIqn, 0, &err);
  ASSERT_TRUE(s) << err;
  ASSERT_EQ(s->read_capacity(), 65536u);
  // The same grow from an edited file and SIGHUP.
  const std::string grown = read_file(dir.path() / "swiftness.yaml");
  ASSERT_NE(grown.find("size: 32768KiB"), std::string::npos) << grown;
  d.rewrite_config(replace_all(grown, "size: 32768KiB", "size: 48MiB"));
  ASSERT_TRUE(d.signal(SIGHUP));
  ASSERT_TRUE(wait_until([&] { return count(d.log(), "LUN 0 (disk0) grown") == 2; }, 30s))
      << d.log();
  auto t = s->test_unit_ready();
  EXPECT_TRUE(t.unit_attention && t.asc_ascq == kCapacityChanged) << t.error;
  EXPECT_EQ(s->read_capacity(), 98304u);
  write_and_check(*s, 98304 - 16, 16, 4);
  EXPECT_EQ(fs::file_size(dir.path() / "disk0.img"), 48u << 20);

  // A SIGHUP with a smaller size is refused as a whole, naming the LUN.
  d.rewrite_config(replace_all(grown, "size: 32768KiB", "size: 16MiB"));
  ASSERT_TRUE(d.signal(SIGHUP));
  ASSERT_TRUE(wait_until(
      [&] {
        return d.log().find(
                   "LUN 0 (disk0): shrinking from 50331648 to 16777216 bytes is refused") !=
               std::string::npos;
      },
      30s))
      << d.log();
  EXPECT_TRUE(s->test_unit_ready().ok);
  EXPECT_EQ(s->read_capacity(), 98304u);
  EXPECT_EQ(d.stop(30s), 0) << d.log();
}

// ~5 s. A Swift LUN of 15.5 MiB (its last 1 MiB chunk partial, and drained to Swift) grows to
// 40 MiB live; then kill -9: restarting with the old size is refused (lun.meta in Swift has the
// new one), with the new size the data past the old end comes back from the cache journal, and
// after a drain a gateway with an empty cache reads it all from Swift.
TEST(Resize, SwiftLunGrowsLiveAndTheSizePersists) {
  auto env = swift_aio_env();
  ASSERT_TRUE(env) << "the swift_aio fixture did not leave its environment file";
  std::random_device rd;
  const std::string container = "it-resize-" + std::to_string(rd()) + std::to_string(rd());
  const std::string yaml =
      std::string("target:\n  iqn: ") + kIqn + "\n  portals: [\"127.0.0.1:0\"]\n" +
      "swift:\n  auth_url: " + env->auth_url + "\n  user: \"" + env->user +
      "\"\n  key: " + env->key +
      "\ncache:\n  path: '@DIR@/cache'\n  size: 64MiB\n  shutdown_drain_s: 60\n"
      "state_dir: '@DIR@/state'\n"
      "luns:\n  - {id: 0, name: vol, backend: swift, container: " +
      container + ", size: 15872KiB, chunk_size: 1MiB}\n";
  TempDir dir;
  Daemon d(dir.path(), yaml);
  ASSERT_TRUE(d.start(60s)) << d.log();
  {
    // The partial last chunk reaches Swift before the grow: its object is shorter than a chunk.
    std::string err;
    auto s = IscsiClient::connect(d.portal(), kIqn, 0, &err);
    ASSERT_TRUE(s) << err;
    write_and_check(*s, 31736, 4, 9);
    auto dr = cli(d, {"cache", "drain", "vol"});
    ASSERT_EQ(dr.exit_code, 0) << dr.output;
  }
  grow_with_cli(d, "vol", 0, 31744, 81920, 5);
  {
    std::string err;
    auto s = IscsiClient::connect(d.portal(), kIqn, 0, &err);
    ASSERT_TRUE(s) << err;
    // The rest of the once-partial chunk reads as zeros; its old part is intact.
    std::vector<uint8_t> tail((32768 - 31744 - 8) * 512, 0xee);
    ASSERT_TRUE(s->io(false, 31744 + 8, tail).ok);
    EXPECT_EQ(tail, std::vector<uint8_t>(tail.size(), 0));
    expect_reads(*s, 31736, 4, 9);
  }
  const std::string grown = read_file(dir.path() / "swiftness.yaml");
  d.kill9();

  // The old size against the grown LUN: refused at attach, nothing served.
  d.rewrite_config(replace_all(grown, "size: 40960KiB", "size: 15872KiB"));
  EXPECT_FALSE(d.start(60s)) << "the LUN must not attach with the old size";
  EXPECT_NE(d.log().find("shrinking is refused"), std::string::npos) << d.log();

  // The new size: the writes past the old end come back from the cache journal.
  d.rewrite_config(grown);
  ASSERT_TRUE(d.start(60s)) << d.log();
  check_grown(d);
  ASSERT_EQ(d.stop(90s), 0) << d.log();  // drains to Swift

  // A fresh gateway: no cache, everything from Swift.
  fs::remove_all(dir.path() / "cache");
  ASSERT_TRUE(d.start(60s)) << d.log();
  check_grown(d);
  EXPECT_EQ(d.stop(90s), 0) << d.log();
}
