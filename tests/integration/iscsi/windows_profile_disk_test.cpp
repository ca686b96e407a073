// The Windows-profile tests of the disk-class command sequence (fixture:
// windows_profile_fixture.hpp): disk arrival as storport and classpnp probe it, "Initialize Disk
// (GPT)" and format-sized I/O, and a Storport-deep queue inside the CmdSN window. Each runs
// against a file LUN and, as swift.*, a Swift-backed one.
#include <gtest/gtest.h>

#include "tests/integration/iscsi/windows_profile_fixture.hpp"

using namespace swiftness::testing;
using namespace swiftness::testing::windows_profile;

namespace {

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

}  // namespace
