// INQUIRY, VPD pages and READ CAPACITY, with golden bytes. Test names follow libiscsi's
// iscsi-test-cu cases (SCSI.Inquiry.*, SCSI.ReadCapacity*.*).
#include <cstring>

#include "tests/unit/scsi/harness.hpp"

namespace swiftness::scsi::test {
namespace {

std::vector<uint8_t> bytes(std::initializer_list<int> v) {
  std::vector<uint8_t> out;
  for (int x : v)
    out.push_back(uint8_t(x));
  return out;
}

TEST(Inquiry, Standard) {
  Harness h;
  auto o = h.run({0x12, 0, 0, 0, 255, 0}, 255);
  ASSERT_TRUE(IsGood(o));
  ASSERT_EQ(o.data.size(), 74u);
  std::vector<uint8_t> want = bytes({0x00, 0x00, 0x06, 0x12, 69, 0x00, 0x00, 0x02});
  for (char ch : std::string("SWIFTNSSTest LUN        0001"))
    want.push_back(uint8_t(ch));
  want.resize(58, 0);
  for (int v : {0x00, 0xa0, 0x04, 0x60, 0x04, 0xc0, 0x09, 0x60})
    want.push_back(uint8_t(v));
  want.resize(74, 0);
  EXPECT_EQ(o.data, want);
}

TEST(Inquiry, AllocLength) {
  Harness h;
  for (uint16_t alloc : {0, 1, 5, 36, 73, 74, 300}) {
    auto o = h.run({0x12, 0, 0, uint8_t(alloc >> 8), uint8_t(alloc), 0}, 512);
    ASSERT_TRUE(IsGood(o));
    EXPECT_EQ(o.data.size(), std::min<size_t>(alloc, 74)) << alloc;
    EXPECT_EQ(o.result.full_length, std::min<size_t>(alloc, 74)) << alloc;
  }
  // EDTL smaller than ALLOCATION LENGTH: the transport sees the larger wish (overflow).
  auto o = h.run({0x12, 0, 0, 0, 255, 0}, 10);
  EXPECT_EQ(o.data.size(), 10u);
  EXPECT_EQ(o.result.full_length, 74u);
}

TEST(Inquiry, EVPD) {
  Harness h;
  // PAGE CODE without EVPD is an error.
  EXPECT_TRUE(IsInvalidFieldInCdb(h.run({0x12, 0, 0x80, 0, 255, 0}, 255)));
  // An unknown page is an error.
  EXPECT_TRUE(IsInvalidFieldInCdb(h.run({0x12, 1, 0x8f, 0, 255, 0}, 255)));
  // Every supported page answers with its own page code.
  for (uint8_t p : {0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2}) {
    auto o = h.run({0x12, 1, p, 0, 255, 0}, 255);
    ASSERT_TRUE(IsGood(o));
    EXPECT_EQ(o.data[1], p);
    EXPECT_EQ(o.data.size(), 4u + (o.data[2] << 8 | o.data[3]));
  }
}

TEST(Inquiry, SupportedVPD) {
  Harness h;
  auto o = h.run({0x12, 1, 0x00, 0, 255, 0}, 255);
  EXPECT_EQ(o.data, bytes({0, 0, 0, 6, 0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2}));
}

TEST(Inquiry, UnitSerialNumber) {
  Harness h;
  auto o = h.run({0x12, 1, 0x80, 0, 255, 0}, 255);
  EXPECT_EQ(o.data, bytes({0, 0x80, 0, 6, 'S', 'N', '0', '0', '0', '1'}));
}

TEST(Inquiry, DeviceIdentificationHasNaa) {
  Harness h;
  auto o = h.run({0x12, 1, 0x83, 0, 255, 0}, 255);
  ASSERT_TRUE(IsGood(o));
  // First designator: binary, LU association, NAA, 16 bytes.
  EXPECT_EQ(std::vector<uint8_t>(o.data.begin() + 4, o.data.begin() + 8),
            bytes({0x01, 0x03, 0x00, 0x10}));
  EXPECT_EQ(o.data[8], 0x60);
  EXPECT_EQ(o.data[23], 0x2a);
}

TEST(Inquiry, BlockLimits) {
  Harness h;
  auto o = h.run({0x12, 1, 0xb0, 0, 255, 0}, 255);
  ASSERT_TRUE(IsGood(o));
  ASSERT_EQ(o.data.size(), 0x40u);
  EXPECT_EQ(o.data[3], 0x3c);
  EXPECT_EQ(o.data[4], 0x00);  // WSNZ: 0 blocks means "to the end"
  EXPECT_EQ(o.data[5], 255);   // MAXIMUM COMPARE AND WRITE LENGTH
  // MAXIMUM UNMAP LBA COUNT and BLOCK DESCRIPTOR COUNT non-zero on a thin LU.
  EXPECT_NE(o.data[20] | o.data[21] | o.data[22] | o.data[23], 0);
  EXPECT_NE(o.data[24] | o.data[25] | o.data[26] | o.data[27], 0);
}

TEST(Inquiry, MandatoryVPDSBC) {
  Harness h;
  auto b1 = h.run({0x12, 1, 0xb1, 0, 255, 0}, 255);
  ASSERT_TRUE(IsGood(b1));
  EXPECT_EQ(b1.data[4] << 8 | b1.data[5], 1);  // non-rotating medium
  auto b2 = h.run({0x12, 1, 0xb2, 0, 255, 0}, 255);
  EXPECT_EQ(b2.data, bytes({0, 0xb2, 0, 4, 0, 0xe4, 0x02, 0}));
}

TEST(Inquiry, ThickLunReportsNoProvisioning) {
  Harness h(Harness::Options{.thin = false});
  auto b2 = h.run({0x12, 1, 0xb2, 0, 255, 0}, 255);
  EXPECT_EQ(b2.data, bytes({0, 0xb2, 0, 4, 0, 0, 0, 0}));
  auto rc = h.run(cdb16(0x9e, 0, 32, 0x10), 32);
  EXPECT_EQ(rc.data[14], 0x00);  // LBPME/LBPRZ clear
}

TEST(Inquiry, MissingLunAnswersQualifier3) {
  Harness h;
  auto o = h.run({0x12, 0, 0, 0, 36, 0}, 36, {}, nullptr, 5);
  ASSERT_TRUE(IsGood(o));
  EXPECT_EQ(o.data[0], 0x7f);
  // Other commands to a missing LUN: LOGICAL UNIT NOT SUPPORTED.
  EXPECT_TRUE(HasCheckCondition(h.run({0x00, 0, 0, 0, 0, 0}, 0, {}, nullptr, 5),
                                SenseKey::illegal_request, 0x25, 0x00));
}

TEST(ReadCapacity10, Simple) {
  Harness h;
  auto o = h.run({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 8);
  EXPECT_EQ(o.data, bytes({0, 0, 0x07, 0xff, 0, 0, 0x02, 0}));
  // LBA without PMI is an error.
  EXPECT_TRUE(IsInvalidFieldInCdb(h.run({0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0}, 8)));
}

TEST(ReadCapacity16, Simple) {
  Harness h;
  auto o = h.run(cdb16(0x9e, 0, 32, 0x10), 32);
  std::vector<uint8_t> want(32, 0);
  want[6] = 0x07, want[7] = 0xff, want[10] = 0x02, want[14] = 0xc0;
  EXPECT_EQ(o.data, want);
}

TEST(ReadCapacity16, Alloclen) {
  Harness h;
  for (uint32_t alloc : {0u, 1u, 8u, 12u, 31u}) {
    auto o = h.run(cdb16(0x9e, 0, alloc, 0x10), 64);
    ASSERT_TRUE(IsGood(o));
    EXPECT_EQ(o.data.size(), alloc);
  }
}

TEST(ReadCapacity16, CapacityChangeRaisesUnitAttention) {
  Harness h;
  h.dev->resize(4096);
  EXPECT_TRUE(
      HasCheckCondition(h.run({0x00, 0, 0, 0, 0, 0}), SenseKey::unit_attention, 0x2a, 0x09));
  EXPECT_TRUE(HasCheckCondition(h.run({0x00, 0, 0, 0, 0, 0}, 0, {}, h.b), SenseKey::unit_attention,
                                0x2a, 0x09));
  EXPECT_TRUE(IsGood(h.run({0x00, 0, 0, 0, 0, 0})));  // reported once
  auto o = h.run(cdb16(0x9e, 0, 32, 0x10), 32);
  EXPECT_EQ(o.data[6] << 8 | o.data[7], 0x0fff);
}

}  // namespace
}  // namespace swiftness::scsi::test
