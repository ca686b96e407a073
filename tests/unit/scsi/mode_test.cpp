// MODE SENSE / MODE SELECT rows and the mode page table (libiscsi SCSI.ModeSense6.*).
#include "target/scsi/mode_pages.hpp"
#include "tests/unit/scsi/harness.hpp"

namespace swiftness::scsi::test {
namespace {

TEST(ModeSense6, CachingPageGolden) {
  Harness h;
  auto o = h.run({0x1a, 0, 0x08, 0, 192, 0}, 192);
  ASSERT_TRUE(IsGood(o));
  std::vector<uint8_t> want = {31, 0, 0x10, 8, 0, 0, 0x08, 0, 0, 0, 0x02, 0, 0x08, 0x12, 0x04};
  want.resize(32, 0);
  EXPECT_EQ(o.data, want);
}

TEST(ModeSense6, AllPages) {
  Harness h;
  auto o = h.run({0x1a, 0x08, 0x3f, 0, 255, 0}, 255);  // DBD
  ASSERT_TRUE(IsGood(o));
  // header + 01h(12) + 08h(20) + 0Ah(12) + 1Ch(12)
  ASSERT_EQ(o.data.size(), 4u + 12 + 20 + 12 + 12);
  EXPECT_EQ(o.data[0], o.data.size() - 1);
  EXPECT_EQ(o.data[3], 0);  // no block descriptor
  EXPECT_EQ(o.data[4], 0x01);
  EXPECT_EQ(o.data[16], 0x08);
  EXPECT_EQ(o.data[36], 0x0a);
  EXPECT_EQ(o.data[48], 0x1c);
}

TEST(ModeSense6, Residuals) {
  Harness h;
  auto o = h.run({0x1a, 0x08, 0x3f, 0, 4, 0}, 255);
  EXPECT_EQ(o.data.size(), 4u);
  EXPECT_EQ(o.data[0], 59);  // MODE DATA LENGTH still tells the full size
}

TEST(ModeSense6, ChangeableValues) {
  Harness h;
  auto o = h.run({0x1a, 0x08, 0x40 | 0x0a, 0, 255, 0}, 255);
  ASSERT_TRUE(IsGood(o));
  EXPECT_EQ(o.data[4 + 2], 0x04);  // D_SENSE changeable
  EXPECT_EQ(o.data[4 + 4], 0x08);  // SWP changeable
  EXPECT_TRUE(HasCheckCondition(h.run({0x1a, 0x08, 0xc0 | 0x0a, 0, 255, 0}, 255),
                                SenseKey::illegal_request, 0x39, 0x00));
  EXPECT_TRUE(IsInvalidFieldInCdb(h.run({0x1a, 0x08, 0x19, 0, 255, 0}, 255)));
}

TEST(ModeSense10, LongLbaDescriptor) {
  Harness h;
  auto o = h.run({0x5a, 0x10, 0x08, 0, 0, 0, 0, 0, 255, 0}, 255);
  ASSERT_TRUE(IsGood(o));
  EXPECT_EQ(o.data[4], 0x01);  // LONGLBA
  EXPECT_EQ(o.data[7], 16);
  EXPECT_EQ(o.data[8 + 6] << 8 | o.data[8 + 7], 0x0800);  // 2048 blocks
  EXPECT_EQ(o.data[8 + 14], 0x02);                        // 512-byte blocks
  EXPECT_EQ(o.data[24], 0x08);
}

std::vector<uint8_t> control_page(uint8_t byte2, uint8_t byte4) {
  // MODE SELECT(6) list: 4-byte header, no block descriptor, Control page.
  return {0, 0, 0, 0, 0x0a, 0x0a, byte2, 0x10, byte4, 0, 0, 0, 0xff, 0xff, 0, 0};
}

TEST(ModeSense6, ControlDSense) {
  Harness h;
  auto p = control_page(0x04, 0);
  ASSERT_TRUE(IsGood(h.run({0x15, 0x10, 0, 0, uint8_t(p.size()), 0}, uint32_t(p.size()), p)));
  auto o = h.run(read10(5000, 1), 512);
  ASSERT_TRUE(IsLbaOutOfRange(o));
  EXPECT_EQ(o.result.sense[0], 0x72);  // descriptor format now
  // The other nexus is told the mode parameters changed.
  EXPECT_TRUE(HasCheckCondition(h.run({0, 0, 0, 0, 0, 0}, 0, {}, h.b), SenseKey::unit_attention,
                                0x2a, 0x01));
  EXPECT_TRUE(IsGood(h.run({0, 0, 0, 0, 0, 0})));  // not the one that changed it
}

TEST(ModeSense6, ControlSWP) {
  Harness h;
  auto p = control_page(0, 0x08);
  ASSERT_TRUE(IsGood(h.run({0x15, 0x10, 0, 0, uint8_t(p.size()), 0}, uint32_t(p.size()), p)));
  auto ms = h.run({0x1a, 0x08, 0x0a, 0, 255, 0}, 255);
  EXPECT_EQ(ms.data[2] & 0x80, 0x80);  // WP in the header
  EXPECT_TRUE(HasCheckCondition(h.run(write10(0, 1), 512, std::vector<uint8_t>(512)),
                                SenseKey::data_protect, 0x27, 0x00));
  EXPECT_TRUE(IsGood(h.run(read10(0, 1), 512)));
  p = control_page(0, 0);
  ASSERT_TRUE(IsGood(h.run({0x15, 0x10, 0, 0, uint8_t(p.size()), 0}, uint32_t(p.size()), p)));
  EXPECT_TRUE(IsGood(h.run(write10(0, 1), 512, std::vector<uint8_t>(512))));
}

TEST(ModeSelect6, RejectsChangesToFixedBits) {
  Harness h;
  auto p = control_page(0x02, 0);  // GLTSD is not changeable
  EXPECT_TRUE(
      HasCheckCondition(h.run({0x15, 0x10, 0, 0, uint8_t(p.size()), 0}, uint32_t(p.size()), p),
                        SenseKey::illegal_request, 0x26, 0x00));
  // SP=1 without a state directory: nothing can be saved.
  p = control_page(0, 0);
  EXPECT_TRUE(
      IsInvalidFieldInCdb(h.run({0x15, 0x11, 0, 0, uint8_t(p.size()), 0}, uint32_t(p.size()), p)));
}

TEST(ModeSelect6, WriteCacheOffMakesWritesDurable) {
  Harness h;
  std::vector<uint8_t> p = {0, 0, 0, 0, 0x08, 0x12};
  p.resize(4 + 20, 0);  // WCE=0
  ASSERT_TRUE(IsGood(h.run({0x15, 0x10, 0, 0, uint8_t(p.size()), 0}, uint32_t(p.size()), p)));
  ASSERT_TRUE(IsGood(h.run(write10(0, 1), 512, std::vector<uint8_t>(512, 1))));
  EXPECT_EQ(h.dev->fua_write_count(), 1u);
}

std::vector<uint8_t> caching_page(bool wce) {
  std::vector<uint8_t> p = {0, 0, 0, 0, 0x08, 0x12, uint8_t(wce ? 0x04 : 0)};
  p.resize(4 + 20, 0);
  return p;
}
uint8_t sensed_wce(Harness& h, PageControl pc) {
  auto o = h.run({0x1a, 0x08, uint8_t(uint8_t(pc) << 6 | 0x08), 0, 255, 0}, 255);
  EXPECT_TRUE(IsGood(o));
  return o.data.size() > 6 ? o.data[6] & 0x04 : 0xff;
}

TEST(ModeSelect6, SavedPagesSurviveRestart) {
  const std::string dir = make_temp_dir();
  ASSERT_FALSE(dir.empty());
  {
    Harness h(Harness::Options{.state_dir = dir});
    // With somewhere to save them, pages say PS=1 and saved values can be read.
    auto ms = h.run({0x1a, 0x08, 0x08, 0, 255, 0}, 255);
    EXPECT_EQ(ms.data[4], 0x88);
    EXPECT_EQ(sensed_wce(h, PageControl::saved), 0x04);

    // SP=0: current only; a restart brings the old value back.
    auto p = caching_page(false);
    ASSERT_TRUE(IsGood(h.run({0x15, 0x10, 0, 0, uint8_t(p.size()), 0}, uint32_t(p.size()), p)));
    EXPECT_EQ(sensed_wce(h, PageControl::current), 0);
    EXPECT_EQ(sensed_wce(h, PageControl::saved), 0x04);
    h.start();
    EXPECT_EQ(sensed_wce(h, PageControl::current), 0x04);

    // SP=1: current and saved, and a restart keeps it (writes are durable again at once).
    ASSERT_TRUE(IsGood(h.run({0x15, 0x11, 0, 0, uint8_t(p.size()), 0}, uint32_t(p.size()), p)));
    EXPECT_EQ(sensed_wce(h, PageControl::saved), 0);
    h.start();
    EXPECT_EQ(sensed_wce(h, PageControl::current), 0);
    EXPECT_EQ(sensed_wce(h, PageControl::saved), 0);
    EXPECT_EQ(sensed_wce(h, PageControl::default_values), 0x04);
    ASSERT_TRUE(IsGood(h.run(write10(0, 1), 512, std::vector<uint8_t>(512, 1))));
    EXPECT_EQ(h.dev->fua_write_count(), 1u);

    // SP=1 with no pages saves the current values (SPC-4 6.11: length 0 is not an error).
    p = caching_page(true);
    ASSERT_TRUE(IsGood(h.run({0x15, 0x10, 0, 0, uint8_t(p.size()), 0}, uint32_t(p.size()), p)));
    ASSERT_TRUE(IsGood(h.run({0x15, 0x11, 0, 0, 0, 0})));
    h.start();
    EXPECT_EQ(sensed_wce(h, PageControl::current), 0x04);
  }
  std::filesystem::remove_all(dir);
}

TEST(ModePages, RestoreTakesOnlyChangeableBits) {
  ModePages m(true, true);
  // Caching page with every bit set, Control page with D_SENSE and GLTSD (not changeable).
  std::string text = "08 ffffffffffffffffffffffffffffffffffff\n0a 0600000000000000ffff\n";
  ASSERT_TRUE(m.restore_saved(text));
  EXPECT_TRUE(m.wce());
  EXPECT_TRUE(m.d_sense());
  auto control = m.page(mode_page_table()[2], PageControl::current);
  EXPECT_EQ(control[2], 0x04);  // GLTSD from the text is dropped
  auto caching = m.page(mode_page_table()[1], PageControl::saved);
  EXPECT_EQ(caching[2], 0x04);  // only WCE is changeable
  EXPECT_EQ(caching[3], 0x00);
  // Garbage leaves everything as it was.
  EXPECT_FALSE(m.restore_saved("08 zz\n"));
  EXPECT_TRUE(m.d_sense());
  // A round trip through the text keeps the saved values.
  m.save();
  ModePages n(false, true);
  ASSERT_TRUE(n.restore_saved(m.serialize_saved()));
  EXPECT_TRUE(n.wce());
  EXPECT_TRUE(n.d_sense());
}

}  // namespace
}  // namespace swiftness::scsi::test
