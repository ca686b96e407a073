// The real daemon against a client that behaves on the wire like the Microsoft iSCSI Initiator
// (tests/integration/iscsi/ms_initiator.hpp): discovery, login offers, CHAP, the disk-class
// command sequence of disk arrival and "Initialize Disk (GPT)", LUN RESET, session
// reinstatement, logout, and the persistent-reservation sequence of failover-cluster validation.
// Run twice from one binary: against a file LUN, and with SWIFTNESS_WINDOWS_PROFILE_BACKEND=swift
// against a Swift-backed LUN on the real Swift of the swift_aio fixture (CTest prefix `swift.`).
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string_view>

#include "tests/integration/iscsi/ms_initiator.hpp"
#include "tests/integration/support/process.hpp"
#include "tests/integration/swift/swift_aio_env.hpp"

using namespace swiftness::testing;
using namespace std::chrono_literals;

namespace {

constexpr const char* kIqn = "iqn.2026-11.io.swiftness:windows";
constexpr uint64_t kLunBytes = 64ull << 20;
constexpr uint32_t kBlock = 512;
constexpr uint64_t kBlocks = kLunBytes / kBlock;
// Windows' secrets must be 12-16 bytes (the note §3, events 35/36).
constexpr const char* kChapUser = "winhost";
constexpr const char* kChapSecret = "twelve-bytes";  // 12
constexpr const char* kMutualUser = "swiftness";
constexpr const char* kMutualSecret = "sixteen-bytes-ok";  // 16

bool on_swift() {
  const char* backend = std::getenv("SWIFTNESS_WINDOWS_PROFILE_BACKEND");
  return backend != nullptr && std::string_view(backend) == "swift";
}

std::string lun0_config() {
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

std::string config(bool chap, bool mutual, const std::string& target_extra) {
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

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937 g(seed);
  for (auto& b : v)
    b = uint8_t(g());
  return v;
}

std::vector<uint8_t> cdb10(uint8_t op, uint32_t lba, uint16_t blocks, uint8_t byte1 = 0) {
  std::vector<uint8_t> c(10, 0);
  c[0] = op;
  c[1] = byte1;
  MsInitiator::put32(c, 2, lba);
  MsInitiator::put16(c, 7, blocks);
  return c;
}
std::vector<uint8_t> inquiry(bool evpd, uint8_t page, uint8_t alloc) {
  return {0x12, uint8_t(evpd ? 1 : 0), page, 0, alloc, 0};
}
std::vector<uint8_t> mode_sense6(uint8_t page, uint8_t pc, uint8_t alloc) {
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

// ---------------------------------------------------------------------------------------------

TEST_F(WindowsProfile, DiscoveryWhileNormalSessionRunsThenLoginToTheAdvertisedAddress) {
  start();
  auto disc = connect("win-node1", 0);
  MsLoginOptions d;
  d.discovery = true;
  auto lr = disc->login(d);
  ASSERT_TRUE(lr.ok) << std::hex << lr.status;
  EXPECT_EQ(lr.answers.count("TargetPortalGroupTag"), 0u) << "TPGT is for Normal sessions";
  auto keys = disc->send_targets("All");
  // Separate keys, TargetName first, TargetAddress with ",tpgt" (the note §2).
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0], (std::pair<std::string, std::string>("TargetName", kIqn)));
  EXPECT_EQ(keys[1].first, "TargetAddress");
  EXPECT_EQ(keys[1].second, daemon_->portal() + ",1");
  ASSERT_TRUE(disc->logout());

  // Windows connects to what SendTargets advertised.
  auto comma = keys[1].second.rfind(',');
  auto colon = keys[1].second.rfind(':', comma);
  uint16_t port = uint16_t(std::stoi(keys[1].second.substr(colon + 1, comma - colon - 1)));
  MsInitiator normal(port, ms_initiator_name("win-node1"), ms_isid(1));
  MsLoginOptions o;
  o.target = kIqn;
  ASSERT_TRUE(normal.login(o).ok);
  clear_ua(normal);

  // A refresh: a second discovery session while the normal one is open (the note §2).
  auto refresh = connect("win-node1", 2);
  ASSERT_TRUE(refresh->login(d).ok);
  auto again = refresh->send_targets("All");
  EXPECT_EQ(again, keys);
  auto inq = normal.command(inquiry(false, 0, 36), Dir::read, 36);
  EXPECT_TRUE(inq.good()) << sense_of(inq);
  EXPECT_TRUE(refresh->logout());
  EXPECT_TRUE(normal.logout());
}

TEST_F(WindowsProfile, LoginOffersGetTheAnswersWindowsNeeds) {
  start();
  auto c = connect("win-node1", 0);
  MsLoginOptions o;
  o.target = kIqn;
  auto r = c->login(o);
  ASSERT_TRUE(r.ok);
  // Security stage answers: AuthMethod=None, TargetAlias, TPGT=1 (the note §3, LIO's answer).
  EXPECT_EQ(r.answers["AuthMethod"], "None");
  EXPECT_EQ(r.answers["TargetAlias"], "windows");
  EXPECT_EQ(r.answers["TargetPortalGroupTag"], "1");
  // Operational results. The target accepts unsolicited and immediate data, so Windows' OR/AND
  // keys come back as offered; bursts are Windows' (smaller than the target's limits).
  EXPECT_EQ(r.answers["InitialR2T"], "No");
  EXPECT_EQ(r.answers["ImmediateData"], "Yes");
  EXPECT_EQ(r.answers["MaxBurstLength"], "262144");
  EXPECT_EQ(r.answers["FirstBurstLength"], "65536");
  EXPECT_EQ(r.answers["HeaderDigest"], "None");  // None is first in Windows' list
  EXPECT_EQ(r.answers["DataDigest"], "None");
  EXPECT_EQ(c->params().max_burst, 262144u);
  EXPECT_FALSE(c->params().initial_r2t);
  EXPECT_TRUE(c->params().immediate_data);
  // Answered ERL / MaxConnections are the target's (≤ Windows' 2 / 32), checked by the client.
  EXPECT_LE(std::stoi(r.answers["ErrorRecoveryLevel"]), 2);
  clear_ua(*c);
  // CmdSN progression: ExpCmdSN follows every non-immediate command.
  uint32_t before = c->cmd_sn();
  for (int i = 0; i < 5; ++i)
    EXPECT_TRUE(c->command({0, 0, 0, 0, 0, 0}, Dir::none, 0).good());
  EXPECT_EQ(c->cmd_sn(), before + 5);
  EXPECT_EQ(c->exp_cmd_sn(), c->cmd_sn());
  EXPECT_TRUE(c->logout());
}

TEST_F(WindowsProfile, Crc32cDigestsWhenWindowsRequiresThem) {
  start();
  MsLoginOptions o;
  o.offers = ms_normal_offers("CRC32C");  // "Enable header/data digest" ticked
  auto c = session("win-node1", 0, o);
  ASSERT_TRUE(c->params().header_digest);
  ASSERT_TRUE(c->params().data_digest);
  clear_ua(*c);
  // Every PDU below is digest-checked by the client; odd lengths exercise the padding.
  auto inq = c->command(inquiry(false, 0, 0xff), Dir::read, 0xff);
  EXPECT_TRUE(inq.good()) << sense_of(inq);
  auto data = pattern(256 << 10, 7);
  auto w = write10(*c, 100, data);
  EXPECT_TRUE(w.good()) << sense_of(w);
  EXPECT_EQ(w.immediate_bytes, 65536u);
  EXPECT_EQ(w.r2ts, 1u);
  auto rd = read10(*c, 100, 256 << 10);
  ASSERT_TRUE(rd.good()) << sense_of(rd);
  EXPECT_TRUE(rd.data == data);
  EXPECT_TRUE(c->logout());
}

TEST_F(WindowsProfile, DiskArrivalSequenceOfStorportAndClasspnp) {
  start();
  auto c = session();
  auto uas = clear_ua(*c);
  ASSERT_FALSE(uas.empty()) << "a new I_T nexus starts with a unit attention (SAM-5 6.3.2)";
  EXPECT_EQ(uas[0], "status 02 sense 6/29/00");

  // Standard INQUIRY (storport, allocation 255 here): direct-access, SPC-4, CmdQue, HiSup.
  auto inq = c->command(inquiry(false, 0, 0xff), Dir::read, 0xff);
  ASSERT_TRUE(inq.good()) << sense_of(inq);
  ASSERT_GE(inq.data.size(), 36u);
  EXPECT_EQ(inq.data[0], 0x00) << "peripheral qualifier 0, device type 0 (disk)";
  EXPECT_EQ(inq.data[1] & 0x80, 0) << "RMB: not removable";
  EXPECT_GE(inq.data[2], 5) << "VERSION";
  EXPECT_EQ(inq.data[3] & 0x0f, 2) << "RESPONSE DATA FORMAT";
  EXPECT_TRUE(inq.data[3] & 0x10) << "HiSup (SCST 6181fda: >8 LUNs on Windows)";
  EXPECT_EQ(size_t(inq.data[4]) + 5, inq.data.size()) << "ADDITIONAL LENGTH vs data sent";
  EXPECT_TRUE(inq.data[7] & 0x02) << "CmdQue: storport queues only to CmdQue devices";
  EXPECT_TRUE(inq.underflow) << "255 asked, fewer sent: U bit and residual";
  EXPECT_EQ(inq.residual, 0xffu - inq.data.size());

  // REPORT LUNS: LUN 0 and 1, peripheral addressing.
  std::vector<uint8_t> rl(12, 0);
  rl[0] = 0xa0;
  MsInitiator::put32(rl, 6, 4096);
  auto luns = c->command(rl, Dir::read, 4096);
  ASSERT_TRUE(luns.good()) << sense_of(luns);
  ASSERT_EQ(luns.data.size(), 8u + 16u);
  EXPECT_EQ(luns.data[3], 16) << "LUN LIST LENGTH";
  EXPECT_EQ(luns.data[8 + 1], 0);
  EXPECT_EQ(luns.data[16 + 1], 1);

  // VPD 00h with allocation 255: strictly ascending, B0/B1/B2 present, no 8Fh (no ODX).
  auto v0 = c->command(inquiry(true, 0x00, 0xff), Dir::read, 0xff);
  ASSERT_TRUE(v0.good()) << sense_of(v0);
  ASSERT_GE(v0.data.size(), 4u);
  EXPECT_EQ(v0.data[1], 0x00);
  std::vector<uint8_t> pages(v0.data.begin() + 4, v0.data.end());
  EXPECT_EQ(size_t(v0.data[2] << 8 | v0.data[3]), pages.size());
  for (size_t i = 1; i < pages.size(); ++i)
    EXPECT_LT(pages[i - 1], pages[i]) << "VPD 00h list must be strictly ascending (classpnp)";
  for (uint8_t want : {0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2})
    EXPECT_NE(std::find(pages.begin(), pages.end(), want), pages.end()) << int(want);
  EXPECT_EQ(std::find(pages.begin(), pages.end(), 0x8f), pages.end()) << "ODX not advertised";

  // VPD 80h: printable serial.
  auto v80 = c->command(inquiry(true, 0x80, 0xff), Dir::read, 0xff);
  ASSERT_TRUE(v80.good());
  ASSERT_GE(v80.data.size(), 5u);
  EXPECT_EQ(size_t(v80.data[3]) + 4, v80.data.size());
  for (size_t i = 4; i < v80.data.size(); ++i)
    EXPECT_TRUE(v80.data[i] >= 0x20 && v80.data[i] < 0x7f);

  // VPD 83h: an NAA LU designator, different for each LUN (the note §5: 0xF4 bugchecks).
  auto naa_of = [&](uint64_t lun) {
    auto v = c->command(inquiry(true, 0x83, 0xff), Dir::read, 0xff, {}, lun);
    EXPECT_TRUE(v.good()) << sense_of(v);
    std::vector<uint8_t> naa;
    for (size_t off = 4; off + 4 <= v.data.size(); off += 4 + v.data[off + 3]) {
      uint8_t assoc = (v.data[off + 1] >> 4) & 3, type = v.data[off + 1] & 0x0f;
      if (assoc == 0 && type == 3) naa.assign(&v.data[off + 4], &v.data[off + 4] + v.data[off + 3]);
    }
    return naa;
  };
  auto naa0 = naa_of(0), naa1 = naa_of(1);
  ASSERT_EQ(naa0.size(), 16u) << "NAA IEEE Registered Extended (16 bytes) for LUN 0";
  EXPECT_EQ(naa0[0] >> 4, 6) << "NAA type 6";
  ASSERT_EQ(naa1.size(), 16u);
  EXPECT_NE(naa0, naa1) << "two LUNs with one identity";

  // B2h then B0h (ClasspGetLBProvisioningInfo), B1h.
  auto b2 = c->command(inquiry(true, 0xb2, 0xff), Dir::read, 0xff);
  ASSERT_TRUE(b2.good());
  ASSERT_GE(b2.data.size(), 8u);
  bool lbpu = b2.data[5] & 0x80, lbprz = b2.data[5] & 0x04;
  auto b0 = c->command(inquiry(true, 0xb0, 0xff), Dir::read, 0xff);
  ASSERT_TRUE(b0.good());
  ASSERT_EQ(b0.data.size(), 0x40u) << "B0h page length 3Ch (HCK), ≥ 24h for the UNMAP fields";
  auto be32 = [](const std::vector<uint8_t>& v, size_t o) {
    return uint32_t(v[o]) << 24 | uint32_t(v[o + 1]) << 16 | uint32_t(v[o + 2]) << 8 | v[o + 3];
  };
  uint32_t max_xfer = be32(b0.data, 8);
  EXPECT_TRUE(max_xfer == 0 || max_xfer >= (256u << 10) / kBlock)
      << "MAXIMUM TRANSFER LENGTH below Windows' 256 KiB: " << max_xfer;
  if (lbpu) {
    EXPECT_GT(be32(b0.data, 20), 0u) << "MAXIMUM UNMAP LBA COUNT (HCK)";
    EXPECT_GT(be32(b0.data, 24), 0u) << "MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT (HCK)";
  }
  auto b1 = c->command(inquiry(true, 0xb1, 0xff), Dir::read, 0xff);
  ASSERT_TRUE(b1.good());
  EXPECT_EQ(b1.data.size(), 0x40u) << "B1h page length 3Ch (HCK)";

  // READ CAPACITY (10), then (16) with allocation 32.
  auto rc10 = c->command({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}, Dir::read, 8);
  ASSERT_TRUE(rc10.good()) << sense_of(rc10);
  ASSERT_EQ(rc10.data.size(), 8u);
  EXPECT_EQ(be32(rc10.data, 0), kBlocks - 1);
  EXPECT_EQ(be32(rc10.data, 4), kBlock);
  std::vector<uint8_t> rc16c(16, 0);
  rc16c[0] = 0x9e;
  rc16c[1] = 0x10;
  MsInitiator::put32(rc16c, 10, 32);
  auto rc16 = c->command(rc16c, Dir::read, 32);
  ASSERT_TRUE(rc16.good()) << sense_of(rc16);
  ASSERT_EQ(rc16.data.size(), 32u);
  EXPECT_EQ(be32(rc16.data, 0), 0u);
  EXPECT_EQ(be32(rc16.data, 4), kBlocks - 1);
  EXPECT_EQ(be32(rc16.data, 8), kBlock);
  EXPECT_EQ(bool(rc16.data[14] & 0x80), lbpu) << "RC16 LBPME must agree with B2h LBPU (HCK)";
  EXPECT_EQ(bool(rc16.data[14] & 0x40), lbprz) << "RC16 LBPRZ must agree with B2h LBPRZ (HCK)";

  // MODE SENSE (6), allocation 192: 1Ch changeable then current, 08h current and changeable,
  // 0Ah, then 3Fh for the write-protect check.
  auto mode = [&](uint8_t page, uint8_t pc) {
    auto r = c->command(mode_sense6(page, pc, 192), Dir::read, 192);
    EXPECT_TRUE(r.good()) << "MODE SENSE(6) page " << std::hex << int(page) << " " << sense_of(r);
    if (r.data.size() >= 4) {
      EXPECT_EQ(size_t(r.data[0]) + 1, r.data.size()) << "MODE DATA LENGTH";
      EXPECT_EQ(r.data[2] & 0x80, 0) << "WP: the disk would be read-only";
    }
    return r;
  };
  auto page_at = [](const ScsiResult& r, uint8_t code) -> std::vector<uint8_t> {
    if (r.data.size() < 4) return {};
    for (size_t off = 4 + r.data[3]; off + 2 <= r.data.size(); off += 2 + r.data[off + 1])
      if ((r.data[off] & 0x3f) == code)
        return {r.data.begin() + long(off), r.data.begin() + long(off + 2 + r.data[off + 1])};
    return {};
  };
  EXPECT_EQ(page_at(mode(0x1c, 1), 0x1c).size(), 12u);
  EXPECT_EQ(page_at(mode(0x1c, 0), 0x1c).size(), 12u);
  auto caching = mode(0x08, 0);
  auto cp = page_at(caching, 0x08);
  ASSERT_EQ(cp.size(), 20u) << "caching page 08h, length 12h";
  EXPECT_TRUE(cp[2] & 0x04) << "WCE (write_cache: true)";
  EXPECT_TRUE(caching.data[2] & 0x10) << "DPOFUA";
  EXPECT_TRUE(page_at(mode(0x08, 1), 0x08)[2] & 0x04) << "WCE changeable";
  auto control = page_at(mode(0x0a, 0), 0x0a);
  ASSERT_EQ(control.size(), 12u);
  auto all = mode(0x3f, 0);
  std::vector<uint8_t> codes;
  for (size_t off = 4 + all.data[3]; off + 2 <= all.data.size(); off += 2 + all.data[off + 1])
    codes.push_back(all.data[off] & 0x3f);
  EXPECT_EQ(codes, (std::vector<uint8_t>{0x01, 0x08, 0x0a, 0x1c}));

  // MODE SELECT (6), PF=1: ClasspZeroQERR (QERR=0 on the control page), then the cache toggle
  // of DiskSetCacheInformation (WCE off, read back, on again).
  auto select = [&](std::vector<uint8_t> page) {
    page[0] &= 0x3f;  // PS is reserved in MODE SELECT
    std::vector<uint8_t> p{0, 0, 0, 0};
    p.insert(p.end(), page.begin(), page.end());
    return c->command({0x15, 0x10, 0, 0, uint8_t(p.size()), 0}, Dir::write, uint32_t(p.size()), p);
  };
  control[3] &= uint8_t(~0x06);
  auto s1 = select(control);
  EXPECT_TRUE(s1.good()) << sense_of(s1);
  cp[2] &= uint8_t(~0x04);
  auto s2 = select(cp);
  EXPECT_TRUE(s2.good()) << sense_of(s2);
  EXPECT_FALSE(page_at(mode(0x08, 0), 0x08)[2] & 0x04) << "WCE off after MODE SELECT";
  // Exactly what disk.sys DiskSetCacheInformation/DiskModeSelect send (Windows-driver-samples
  // storage/class/disk/src/disk.c): MODE SELECT(6) PF=1, SP = the PS bit MODE SENSE reported;
  // a zero header with BLOCK DESCRIPTOR LENGTH 8; a block descriptor with 0 blocks and the
  // block length; the caching page as read, PS cleared, WCE set as wanted.
  auto windows_cache_select = [&](bool wce) {
    auto sensed = mode(0x08, 0);
    auto page = page_at(sensed, 0x08);
    EXPECT_EQ(page.size(), 20u);
    if (page.size() != 20u) return ScsiResult{};
    const bool savable = page[0] & 0x80;
    page[0] &= 0x7f;
    page[2] = uint8_t(wce ? page[2] | 0x04 : page[2] & ~0x04);
    std::vector<uint8_t> p{
        0, 0, 0, 8, 0, 0, 0, 0, 0, uint8_t(kBlock >> 16), uint8_t(kBlock >> 8), uint8_t(kBlock)};
    p.insert(p.end(), page.begin(), page.end());
    return c->command({0x15, uint8_t(0x10 | (savable ? 1 : 0)), 0, 0, uint8_t(p.size()), 0},
                      Dir::write, uint32_t(p.size()), p);
  };
  auto off = windows_cache_select(false);
  EXPECT_TRUE(off.good()) << "disk.sys write-cache off: " << sense_of(off);
  EXPECT_FALSE(page_at(mode(0x08, 0), 0x08)[2] & 0x04) << "WCE off after disk.sys' MODE SELECT";
  auto on = windows_cache_select(true);
  EXPECT_TRUE(on.good()) << "disk.sys write-cache on: " << sense_of(on);
  EXPECT_TRUE(page_at(mode(0x08, 0), 0x08)[2] & 0x04) << "WCE on again";

  // The whole MODE SENSE buffer sent back, block descriptor included, MODE DATA LENGTH zeroed
  // (reserved in MODE SELECT), DEVICE-SPECIFIC PARAMETER as read (DPOFUA is ignored there).
  auto whole = mode(0x08, 0).data;
  whole[0] = 0;
  for (size_t off = 4 + whole[3]; off < whole.size(); off += 2 + whole[off + 1])
    if ((whole[off] & 0x3f) == 0x08) {
      whole[off] &= 0x3f;
      whole[off + 2] |= 0x04;
    }
  auto s3 = c->command({0x15, 0x10, 0, 0, uint8_t(whole.size()), 0}, Dir::write,
                       uint32_t(whole.size()), whole);
  EXPECT_TRUE(s3.good()) << "MODE SELECT(6) of a MODE SENSE buffer: " << sense_of(s3);
  EXPECT_TRUE(page_at(mode(0x08, 0), 0x08)[2] & 0x04) << "WCE on again";

  // Allocation lengths older Windows use: MODE SENSE(6) header only (tgt 8afadd9) and a
  // 12-byte READ CAPACITY(16) (the >2 TiB workaround of tgt 61143c8 / SCST).
  auto hdr = c->command(mode_sense6(0x3f, 0, 4), Dir::read, 4);
  ASSERT_TRUE(hdr.good()) << sense_of(hdr);
  ASSERT_EQ(hdr.data.size(), 4u);
  EXPECT_EQ(size_t(hdr.data[0]) + 1, all.data.size()) << "MODE DATA LENGTH is not truncated";
  rc16c[13] = 12;
  auto rc12 = c->command(rc16c, Dir::read, 12);
  ASSERT_TRUE(rc12.good()) << sense_of(rc12);
  EXPECT_EQ(rc12.data.size(), 12u);
  // A LUN that REPORT LUNS did not list: INQUIRY answers peripheral qualifier 011b (storport
  // skips it), other commands LOGICAL UNIT NOT SUPPORTED.
  auto absent = c->command(inquiry(false, 0, 36), Dir::read, 36, {}, 5);
  ASSERT_TRUE(absent.good()) << sense_of(absent);
  ASSERT_GE(absent.data.size(), 1u);
  EXPECT_EQ(absent.data[0], 0x7f);
  auto tur5 = c->command({0, 0, 0, 0, 0, 0}, Dir::none, 0, {}, 5);
  EXPECT_EQ(sense_of(tur5), "status 02 sense 5/25/00");

  // VERIFY (10) BYTCHK=0 over a range, SYNCHRONIZE CACHE (10) of the whole medium.
  auto ver = c->command(cdb10(0x2f, 0, 128), Dir::none, 0);
  EXPECT_TRUE(ver.good()) << sense_of(ver);
  auto sync = c->command(cdb10(0x35, 0, 0), Dir::none, 0);
  EXPECT_TRUE(sync.good()) << sense_of(sync);

  // A READ beyond the end: ILLEGAL REQUEST / LOGICAL BLOCK ADDRESS OUT OF RANGE, with a residual.
  auto oob = read10(*c, uint32_t(kBlocks - 1), 2 * kBlock);
  EXPECT_EQ(oob.status, 0x02);
  EXPECT_EQ(sense_of(oob), "status 02 sense 5/21/00");
  EXPECT_TRUE(oob.data.empty());
  EXPECT_TRUE(oob.underflow);
  EXPECT_EQ(oob.residual, 2 * kBlock);
  EXPECT_TRUE(c->logout());
}

TEST_F(WindowsProfile, InitializeDiskGptAndFormatSizedIo) {
  start();
  auto c = session();
  clear_ua(*c);
  // Sizes Windows issues, up to MaxTransferLength 256 KiB; ≤ 64 KiB go as immediate data
  // only, larger as 64 KiB immediate + R2T for the rest (MaxBurstLength 256 KiB).
  uint32_t lba = 4096;
  for (uint32_t size : {512u, 4096u, 65536u, 65536u + 512u, 131072u, 262144u}) {
    SCOPED_TRACE(size);
    auto data = pattern(size, size);
    auto w = write10(*c, lba, data);
    ASSERT_TRUE(w.good()) << sense_of(w);
    EXPECT_EQ(w.immediate_bytes, std::min(size, 65536u));
    EXPECT_EQ(w.r2ts, size > 65536 ? 1u : 0u);
    EXPECT_EQ(w.unsolicited_pdus, 0u) << "immediate data already fills FirstBurstLength";
    auto r = read10(*c, lba, size);
    ASSERT_TRUE(r.good()) << sense_of(r);
    EXPECT_TRUE(r.data == data);
    EXPECT_EQ(r.data_in_pdus, (size + 65535) / 65536) << "Data-In at our MRDSL 64 KiB";
    lba += size / kBlock;
  }

  // "Initialize Disk (GPT)": protective MBR at LBA 0, header at 1, entries at 2-33, backup
  // entries and header at the end; then the partition manager reads them back.
  auto mbr = pattern(kBlock, 1);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  auto header = pattern(kBlock, 2);
  std::memcpy(header.data(), "EFI PART", 8);
  auto entries = pattern(32 * kBlock, 3);
  auto backup_header = pattern(kBlock, 4);
  std::memcpy(backup_header.data(), "EFI PART", 8);
  uint32_t last = uint32_t(kBlocks - 1);
  ASSERT_TRUE(write10(*c, 0, mbr).good());
  ASSERT_TRUE(write10(*c, 1, header).good());
  ASSERT_TRUE(write10(*c, 2, entries).good());
  ASSERT_TRUE(write10(*c, last - 32, entries).good());
  ASSERT_TRUE(write10(*c, last, backup_header).good());
  ASSERT_TRUE(c->command(cdb10(0x35, 0, 0), Dir::none, 0).good());
  EXPECT_TRUE(read10(*c, 0, kBlock).data == mbr);
  EXPECT_TRUE(read10(*c, 1, kBlock).data == header);
  EXPECT_TRUE(read10(*c, 2, 32 * kBlock).data == entries);
  EXPECT_TRUE(read10(*c, last - 32, 32 * kBlock).data == entries);
  EXPECT_TRUE(read10(*c, last, kBlock).data == backup_header);

  // A 1 MiB read is four pipelined READ(10)s of 256 KiB (the note §4).
  std::vector<uint32_t> itts;
  for (uint32_t i = 0; i < 4; ++i)
    itts.push_back(c->submit(cdb10(0x28, 4096 + i * 512, 512), Dir::read, 256 << 10));
  for (auto itt : itts) {
    auto r = c->wait(itt);
    EXPECT_TRUE(r.good()) << sense_of(r);
    EXPECT_EQ(r.data.size(), 256u << 10);
  }

  // Format: UNMAP of a written range when B2h has LBPU, then the range reads as zeros (LBPRZ).
  auto b2 = c->command(inquiry(true, 0xb2, 0xff), Dir::read, 0xff);
  ASSERT_TRUE(b2.good());
  if (b2.data[5] & 0x80) {
    std::vector<uint8_t> p(24, 0);
    MsInitiator::put16(p, 0, 22);
    MsInitiator::put16(p, 2, 16);
    MsInitiator::put64(p, 8, 8192);
    MsInitiator::put32(p, 16, 2048);  // 1 MiB
    ASSERT_TRUE(write10(*c, 8192, pattern(256 << 10, 9)).good());
    std::vector<uint8_t> cdb{0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0};
    auto u = c->command(cdb, Dir::write, 24, p);
    EXPECT_TRUE(u.good()) << sense_of(u);
    if (b2.data[5] & 0x04) {
      auto z = read10(*c, 8192, 256 << 10);
      EXPECT_TRUE(z.data == std::vector<uint8_t>(256 << 10, 0)) << "LBPRZ: unmapped reads zero";
    }
  }
  EXPECT_TRUE(c->logout());
}

TEST_F(WindowsProfile, RegistryVariantsUnsolicitedDataOut) {
  start();
  // ImmediateData=0 and FirstBurstLength=262144 (Azure guidance) in the registry: writes go as
  // unsolicited Data-Out up to FirstBurstLength, the rest by R2T.
  MsLoginOptions o;
  o.offers = ms_normal_offers();
  for (auto& [k, v] : o.offers) {
    if (k == "ImmediateData") v = "No";
    if (k == "FirstBurstLength") v = "262144";
  }
  auto c = session("win-node1", 0, o);
  ASSERT_FALSE(c->params().immediate_data);
  ASSERT_EQ(c->params().first_burst, 262144u);
  clear_ua(*c);
  auto data = pattern(256 << 10, 21);
  auto w = write10(*c, 300, data);
  ASSERT_TRUE(w.good()) << sense_of(w);
  EXPECT_EQ(w.immediate_bytes, 0u);
  EXPECT_GE(w.unsolicited_pdus, 1u);
  EXPECT_EQ(w.r2ts, 0u);
  EXPECT_TRUE(read10(*c, 300, 256 << 10).data == data);
  EXPECT_TRUE(c->logout());
}

TEST_F(WindowsProfile, RegistrySmallMaxBurstLengthSplitsSequences) {
  start();
  // MaxBurstLength=65536 in the registry: a 256 KiB write is 64 KiB immediate + 3 R2Ts, a
  // 256 KiB read is 4 Data-In sequences, each ending with F (checked by the client).
  MsLoginOptions o;
  o.offers = ms_normal_offers();
  for (auto& [k, v] : o.offers)
    if (k == "MaxBurstLength") v = "65536";
  auto c = session("win-node1", 0, o);
  ASSERT_EQ(c->params().max_burst, 65536u);
  clear_ua(*c);
  auto data = pattern(256 << 10, 31);
  auto w = write10(*c, 900, data);
  ASSERT_TRUE(w.good()) << sense_of(w);
  EXPECT_EQ(w.immediate_bytes, 65536u);
  EXPECT_EQ(w.r2ts, 3u);
  auto r = read10(*c, 900, 256 << 10);
  ASSERT_TRUE(r.good()) << sense_of(r);
  EXPECT_TRUE(r.data == data);
  EXPECT_TRUE(c->logout());
}

TEST_F(WindowsProfile, DiscoveryWithCrc32cDigests) {
  start();
  auto disc = connect("win-node1", 0);
  MsLoginOptions d;
  d.discovery = true;
  d.offers = ms_discovery_offers();
  for (auto& [k, v] : d.offers)
    if (k == "HeaderDigest" || k == "DataDigest") v = "CRC32C";
  ASSERT_TRUE(disc->login(d).ok);
  ASSERT_TRUE(disc->params().header_digest && disc->params().data_digest);
  auto keys = disc->send_targets("All");  // digest-checked, padded text
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[1].second, daemon_->portal() + ",1");
  EXPECT_TRUE(disc->logout());
}

TEST_F(WindowsProfile, DeepQueueStaysInsideAnOpeningWindow) {
  start();
  auto c = session();
  clear_ua(*c);
  auto data = pattern(1 << 20, 80);
  ASSERT_TRUE(
      write10(*c, 0, std::vector<uint8_t>(data.begin(), data.begin() + (256 << 10))).good());
  // Storport keeps up to 255 requests outstanding (the note §4, MaxPendingRequests): submit
  // that many 4 KiB reads as fast as the CmdSN window lets them in, then collect them all.
  std::vector<uint32_t> itts;
  for (uint32_t i = 0; i < 255; ++i)
    itts.push_back(c->submit(cdb10(0x28, (i % 64) * 8, 8), Dir::read, 4096));
  for (uint32_t i = 0; i < itts.size(); ++i) {
    auto r = c->wait(itts[i]);
    ASSERT_TRUE(r.good()) << i << " " << sense_of(r);
    ASSERT_TRUE(std::equal(r.data.begin(), r.data.end(), data.begin() + (i % 64) * 4096));
  }
  EXPECT_GE(int32_t(c->max_cmd_sn() - c->exp_cmd_sn()) + 1, 2) << "window open when idle";
  EXPECT_TRUE(c->logout());
}

TEST_F(WindowsProfile, LunResetWithCommandsInFlight) {
  start();
  auto c = session();
  clear_ua(*c);
  // Windows sends LUN RESET after an I/O timeout with commands still outstanding.
  std::vector<uint32_t> itts;
  for (uint32_t i = 0; i < 8; ++i)
    itts.push_back(c->submit(cdb10(0x2a, 2000 + i * 512, 512), Dir::write, 256 << 10,
                             pattern(256 << 10, 40 + i)));
  int resp = c->task_management(5, 0);  // LOGICAL UNIT RESET
  EXPECT_EQ(resp, 0) << "Function complete";
  // Tasks either completed before the TMF response or are aborted and never answered.
  for (auto itt : itts)
    if (!c->pending(itt)) c->wait(itt);
  for (auto itt : itts)
    c->forget(itt);
  auto uas = clear_ua(*c);
  ASSERT_FALSE(uas.empty()) << "a LUN reset leaves a unit attention";
  EXPECT_EQ(uas[0].substr(0, 21), "status 02 sense 6/29/") << uas[0];
  auto r = read10(*c, 2000, 4096);
  EXPECT_TRUE(r.good()) << sense_of(r);
  // A reset of a LUN that does not exist.
  EXPECT_EQ(c->task_management(5, 7), 2) << "LUN does not exist (RFC 7143 §11.6.1)";
  EXPECT_TRUE(c->logout());
}

TEST_F(WindowsProfile, ReloginWithTheSameIsidAfterADroppedConnection) {
  start();
  auto old = session("win-node1", 0);
  clear_ua(*old);
  auto before = pattern(256 << 10, 50);
  ASSERT_TRUE(write10(*old, 6000, before).good());
  // A cluster node holding a persistent reservation (registered, WR_EX_RO).
  constexpr uint64_t kKey = 0xc1c1c1c1;
  std::vector<uint8_t> reg(24, 0), rsv(24, 0);
  MsInitiator::put64(reg, 8, kKey);
  MsInitiator::put64(rsv, 0, kKey);
  ASSERT_TRUE(old->command({0x5f, 0, 0, 0, 0, 0, 0, 0, 24, 0}, Dir::write, 24, reg).good());
  ASSERT_TRUE(old->command({0x5f, 1, 5, 0, 0, 0, 0, 0, 24, 0}, Dir::write, 24, rsv).good());
  // In flight when the connection drops: a 256 KiB write whose R2T data never comes, and a
  // write waiting behind a CmdSN gap. Neither may ever reach the disk.
  uint32_t half =
      old->submit(cdb10(0x2a, 6000, 512), Dir::write, 256 << 10, pattern(256 << 10, 51));
  old->set_cmd_sn(old->cmd_sn() + 1);
  old->submit(cdb10(0x2a, 6000, 8), Dir::write, 4096, pattern(4096, 52));
  ASSERT_TRUE(old->pending(half));
  // Windows gives up on the connection; the target has not noticed (no FIN yet).
  auto fresh = session("win-node1", 0);  // same name and ISID, TSIH 0: reinstatement
  // The target closes the old connection (RFC 7143 §6.3.5).
  uint8_t byte;
  bool eof = false;
  for (int i = 0; i < 50 && !eof; ++i) {
    while (old->raw().read_exact(&byte, 1, 100)) {
    }
    eof = old->raw().saw_eof();
  }
  EXPECT_TRUE(eof) << "the old connection of a reinstated session stays open";
  // The new session works, with ITTs and CmdSNs starting over (the old tasks used the same
  // ITTs), and the old tasks left nothing behind.
  clear_ua(*fresh);
  auto r = read10(*fresh, 6000, 256 << 10);
  ASSERT_TRUE(r.good()) << sense_of(r);
  EXPECT_TRUE(r.data == before) << "data of a task of the dropped connection reached the disk";
  // Same initiator port, same I_T nexus: the registration and the reservation survive the
  // reinstatement (SPC-4 5.13.1), so the node keeps writing.
  auto keys = fresh->command({0x5e, 0, 0, 0, 0, 0, 0, 0, 64, 0}, Dir::read, 64);
  ASSERT_TRUE(keys.good()) << sense_of(keys);
  ASSERT_EQ(keys.data.size(), 16u) << "one registration";
  EXPECT_EQ(keys.data[15], 0xc1);
  auto holder = fresh->command({0x5e, 1, 0, 0, 0, 0, 0, 0, 64, 0}, Dir::read, 64);
  ASSERT_EQ(holder.data.size(), 24u) << "the reservation is still held";
  EXPECT_EQ(holder.data[21], 5);
  // Windows re-sends the lost write on the new session; it must not meet a leftover task.
  auto again = pattern(256 << 10, 53);
  ASSERT_TRUE(write10(*fresh, 6000, again).good());
  EXPECT_TRUE(read10(*fresh, 6000, 256 << 10).data == again);
  EXPECT_TRUE(fresh->rejects().empty());
  // A bystander cannot write while the reinstated node holds the reservation.
  auto x = session("bystander", 0);
  clear_ua(*x);
  EXPECT_EQ(write10(*x, 6000, pattern(512, 54)).status, 0x18);
  std::vector<uint8_t> unreg(24, 0);
  MsInitiator::put64(unreg, 0, kKey);
  EXPECT_TRUE(fresh->command({0x5f, 0, 0, 0, 0, 0, 0, 0, 24, 0}, Dir::write, 24, unreg).good());
  EXPECT_TRUE(write10(*x, 6000, pattern(512, 54)).good()) << "unregistering released it";
  EXPECT_TRUE(x->logout());
  EXPECT_TRUE(fresh->logout());
}

TEST_F(WindowsProfile, TargetPingsAreAnsweredAndKeepTheSessionAlive) {
  // EnableNOPOut=0: Windows never pings, but answers the target's NOP-In (the note §4).
  start(false, false, "  nop_interval_ms: 200\n  nop_timeout_ms: 1000\n");
  auto c = session();
  clear_ua(*c);
  auto until = std::chrono::steady_clock::now() + 2500ms;
  while (std::chrono::steady_clock::now() < until)
    c->pump(100);
  EXPECT_GE(c->pings_answered(), 2u) << "idle for 2.5 s with a 200 ms ping interval";
  EXPECT_FALSE(c->raw().saw_eof()) << "answered pings must keep the connection";
  EXPECT_TRUE(c->command({0, 0, 0, 0, 0, 0}, Dir::none, 0).good());
  // EnableNOPOut=1: Windows pings too; odd lengths exercise the padding.
  std::vector<uint8_t> ping_data{1, 2, 3, 4, 5};
  EXPECT_EQ(c->ping(ping_data), ping_data);
  EXPECT_EQ(c->ping({}), std::vector<uint8_t>{});
  EXPECT_TRUE(c->logout());
}

TEST_F(WindowsProfile, ForceUnitAccessWritesAndSpc2ReserveRelease) {
  start();
  auto a = session("win-node1", 0);
  auto b = session("win-node2", 0);
  clear_ua(*a);
  clear_ua(*b);
  // disk.sys sets FUA on write-through I/O when the mode header has DPOFUA (the note §5.8).
  auto d = pattern(8192, 70);
  auto w = a->command(cdb10(0x2a, 700, 16, 0x08), Dir::write, 8192, d);
  EXPECT_TRUE(w.good()) << "WRITE(10) FUA: " << sense_of(w);
  EXPECT_TRUE(read10(*b, 700, 8192).data == d);
  // SPC-2 RESERVE(6)/RELEASE(6), still used by some Windows tooling (the note A.7, SPDK #1414).
  EXPECT_TRUE(a->command({0x16, 0, 0, 0, 0, 0}, Dir::none, 0).good());
  auto conflict = read10(*b, 700, 512);
  EXPECT_EQ(conflict.status, 0x18) << "RESERVE(6) excludes other nexuses: " << sense_of(conflict);
  EXPECT_TRUE(read10(*a, 700, 512).good());
  EXPECT_TRUE(a->command({0x17, 0, 0, 0, 0, 0}, Dir::none, 0).good());
  EXPECT_TRUE(read10(*b, 700, 512).good()) << "released";
  // A logout releases a RESERVE(6) (SPC-2 5.5.1).
  EXPECT_TRUE(a->command({0x16, 0, 0, 0, 0, 0}, Dir::none, 0).good());
  EXPECT_TRUE(a->logout());
  EXPECT_TRUE(read10(*b, 700, 512).good()) << "the reservation of a logged-out nexus";
  EXPECT_TRUE(b->logout());
}

TEST_F(WindowsProfile, ReloginAfterWindowsClosedTheConnectionMidWrite) {
  start();
  auto old = session("win-node1", 3);
  clear_ua(*old);
  auto before = pattern(128 << 10, 90);
  ASSERT_TRUE(write10(*old, 7000, before).good());
  // Windows closes the socket (FIN) while a 128 KiB write waits for its R2T data.
  old->submit(cdb10(0x2a, 7000, 256), Dir::write, 128 << 10, pattern(128 << 10, 91));
  old->raw().close_now();
  // The re-login with the same ISID may race the target noticing the FIN: either way it works.
  auto fresh = session("win-node1", 3);
  clear_ua(*fresh);
  auto r = read10(*fresh, 7000, 128 << 10);
  ASSERT_TRUE(r.good()) << sense_of(r);
  EXPECT_TRUE(r.data == before) << "half a write of a closed connection reached the disk";
  EXPECT_TRUE(fresh->logout());
}

class WindowsProfileChap : public WindowsProfile {};

TEST_F(WindowsProfileChap, ChapWithTwelveByteSecret) {
  start(/*chap=*/true, /*mutual=*/false);
  MsLoginOptions o;
  o.chap_user = kChapUser;
  o.chap_secret = kChapSecret;
  auto c = session("win-node1", 0, o);
  clear_ua(*c);
  EXPECT_TRUE(c->logout());
  // A wrong secret: Authentication failure (0201), connection closed.
  auto bad = connect("win-node1", 1);
  o.chap_secret = "wrong-secret";
  o.target = kIqn;
  auto r = bad->login(o);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.status, 0x0201);
}

TEST_F(WindowsProfileChap, MutualChapWithSixteenByteTargetSecret) {
  start(true, true);
  MsLoginOptions o;
  o.chap_user = kChapUser;
  o.chap_secret = kChapSecret;
  o.mutual_user = kMutualUser;
  o.mutual_secret = kMutualSecret;
  auto c = session("win-node1", 0, o);
  clear_ua(*c);
  auto inq = c->command(inquiry(false, 0, 36), Dir::read, 36);
  EXPECT_TRUE(inq.good());
  EXPECT_TRUE(c->logout());
}

// ---------------------------------------------------------------------------------------------
// Failover cluster validation (the note A.5): two nodes, a third nexus that never registers.

std::vector<uint8_t> prout(uint64_t key, uint64_t sa_key) {
  std::vector<uint8_t> p(24, 0);
  MsInitiator::put64(p, 0, key);
  MsInitiator::put64(p, 8, sa_key);
  return p;
}
std::vector<uint8_t> prout_cdb(uint8_t sa, uint8_t type) {
  return {0x5f, sa, type, 0, 0, 0, 0, 0, 24, 0};
}

TEST_F(WindowsProfile, FailoverClusterPersistentReservationSequence) {
  start();
  constexpr uint64_t kA = 0x1111000000000001, kB = 0x2222000000000002;
  constexpr uint8_t kWrExRo = 5;  // Write Exclusive - Registrants Only
  auto a = session("cluster-node-a", 0);
  auto b = session("cluster-node-b", 0);  // same ISID, other name: another I_T nexus
  auto x = session("bystander", 0);
  for (auto* n : {a.get(), b.get(), x.get()})
    clear_ua(*n);

  auto out = [](MsInitiator& n, uint8_t sa, uint8_t type, uint64_t key, uint64_t sa_key) {
    return n.command(prout_cdb(sa, type), Dir::write, 24, prout(key, sa_key));
  };
  auto in = [](MsInitiator& n, uint8_t sa) {
    return n.command({0x5e, sa, 0, 0, 0, 0, 0, 0x10, 0, 0}, Dir::read, 4096);
  };
  auto be32 = [](const std::vector<uint8_t>& v, size_t o) {
    return uint32_t(v[o]) << 24 | uint32_t(v[o + 1]) << 16 | uint32_t(v[o + 2]) << 8 | v[o + 3];
  };
  auto be64 = [&](const std::vector<uint8_t>& v, size_t o) {
    return uint64_t(be32(v, o)) << 32 | be32(v, o + 4);
  };
  auto keys_of = [&](const ScsiResult& r) {
    std::vector<uint64_t> k;
    for (size_t o = 8; o + 8 <= 8 + be32(r.data, 4) && o + 8 <= r.data.size(); o += 8)
      k.push_back(be64(r.data, o));
    return k;
  };

  auto caps = a->command({0x5e, 2, 0, 0, 0, 0, 0, 0, 8, 0}, Dir::read, 8);
  ASSERT_TRUE(caps.good()) << sense_of(caps);
  ASSERT_EQ(caps.data.size(), 8u);
  EXPECT_TRUE(caps.data[3] & 0x80) << "TMV";
  EXPECT_TRUE(caps.data[4] & 0x20) << "WR_EX_RO in the type mask";

  auto k0 = in(*a, 0);
  ASSERT_TRUE(k0.good());
  uint32_t gen = be32(k0.data, 0);
  EXPECT_TRUE(keys_of(k0).empty());

  // Register both nodes (REGISTER, and REGISTER AND IGNORE EXISTING KEY as the cluster does).
  ASSERT_TRUE(out(*a, 0x00, 0, 0, kA).good());
  ASSERT_TRUE(out(*b, 0x06, 0, 0, kB).good());
  auto k1 = in(*b, 0);
  EXPECT_EQ(be32(k1.data, 0), gen + 2) << "PRGENERATION counts registrations";
  EXPECT_EQ(keys_of(k1), (std::vector<uint64_t>{kA, kB}));

  // Node A reserves; node B reads the reservation.
  auto res = out(*a, 0x01, kWrExRo, kA, 0);
  ASSERT_TRUE(res.good()) << sense_of(res);
  auto rr = in(*b, 1);
  ASSERT_TRUE(rr.good());
  ASSERT_EQ(be32(rr.data, 4), 16u) << "one reservation";
  EXPECT_EQ(be64(rr.data, 8), kA);
  EXPECT_EQ(rr.data[21], kWrExRo) << "scope 0, type 5";
  EXPECT_EQ(be32(rr.data, 0), gen + 2) << "RESERVE does not change PRGENERATION";

  // Registrants write; a non-registered nexus reads but gets RESERVATION CONFLICT on write.
  auto d = pattern(4096, 60);
  EXPECT_TRUE(write10(*a, 100, d).good());
  EXPECT_TRUE(write10(*b, 100, d).good());
  EXPECT_TRUE(read10(*x, 100, 4096).good());
  auto conflict = write10(*x, 100, d);
  EXPECT_EQ(conflict.status, 0x18) << "RESERVATION CONFLICT, " << sense_of(conflict);
  EXPECT_TRUE(conflict.sense.empty());

  // Node B preempts node A (arbitration): A loses its registration and the reservation.
  auto pre = out(*b, 0x04, kWrExRo, kB, kA);
  ASSERT_TRUE(pre.good()) << sense_of(pre);
  auto ua = a->command({0, 0, 0, 0, 0, 0}, Dir::none, 0);
  EXPECT_EQ(sense_of(ua), "status 02 sense 6/2a/05") << "REGISTRATIONS PREEMPTED (SPC-4 5.13.11)";
  EXPECT_EQ(write10(*a, 100, d).status, 0x18) << "A is no longer registered";
  auto k2 = in(*a, 0);
  EXPECT_EQ(keys_of(k2), (std::vector<uint64_t>{kB}));
  EXPECT_EQ(be32(k2.data, 0), gen + 3);
  auto rr2 = in(*a, 1);
  ASSERT_EQ(be32(rr2.data, 4), 16u);
  EXPECT_EQ(be64(rr2.data, 8), kB) << "the reservation moved to the preempting node";
  EXPECT_EQ(rr2.data[21], kWrExRo);

  // A registers again; B releases: the other registrant learns RESERVATIONS RELEASED.
  ASSERT_TRUE(out(*a, 0x00, 0, 0, kA).good());
  auto rel = out(*b, 0x02, kWrExRo, kB, 0);
  ASSERT_TRUE(rel.good()) << sense_of(rel);
  auto ua2 = a->command({0, 0, 0, 0, 0, 0}, Dir::none, 0);
  EXPECT_EQ(sense_of(ua2), "status 02 sense 6/2a/04") << "RESERVATIONS RELEASED (SPC-4 5.13.11.2)";
  auto rr3 = in(*b, 1);
  EXPECT_EQ(be32(rr3.data, 4), 0u) << "no reservation after RELEASE";
  EXPECT_TRUE(write10(*x, 100, d).good()) << "no reservation: everyone writes";

  // Unregister both (REGISTER with SERVICE ACTION RESERVATION KEY 0).
  ASSERT_TRUE(out(*a, 0x00, 0, kA, 0).good());
  ASSERT_TRUE(out(*b, 0x00, 0, kB, 0).good());
  auto k3 = in(*x, 0);
  EXPECT_TRUE(keys_of(k3).empty());
  EXPECT_EQ(be32(k3.data, 0), gen + 6);
  for (auto* n : {a.get(), b.get(), x.get()})
    EXPECT_TRUE(n->logout());
}

}  // namespace
