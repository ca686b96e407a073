// The dispatcher's shared checks and the informational rows (libiscsi SCSI.TestUnitReady,
// ReportSupportedOpcodes, ...).
#include "target/scsi/command_table.hpp"
#include "tests/unit/scsi/harness.hpp"

namespace swiftness::scsi::test {
namespace {

TEST(TestUnitReady, Simple) {
  Harness h;
  EXPECT_TRUE(IsGood(h.run({0, 0, 0, 0, 0, 0})));
}

TEST(UnitAttention, PowerOnResetAfterLoginOncePerNexus) {
  Harness h(Harness::Options{.add_nexuses = false});
  h.server->nexus_added(h.a);
  // INQUIRY and REPORT LUNS do not consume the unit attention.
  EXPECT_TRUE(IsGood(h.run({0x12, 0, 0, 0, 36, 0}, 36)));
  EXPECT_TRUE(HasCheckCondition(h.run({0, 0, 0, 0, 0, 0}), SenseKey::unit_attention, 0x29, 0));
  EXPECT_TRUE(IsGood(h.run({0, 0, 0, 0, 0, 0})));
}

TEST(UnitAttention, LogicalUnitResetReachesEveryNexus) {
  Harness h;
  EXPECT_EQ(h.server->logical_unit_reset(*h.a, 0), TmfResponse::function_complete);
  EXPECT_EQ(h.server->logical_unit_reset(*h.a, 9), TmfResponse::lun_does_not_exist);
  EXPECT_TRUE(
      HasCheckCondition(h.run({0, 0, 0, 0, 0, 0}, 0, {}, h.a), SenseKey::unit_attention, 0x29, 0));
  EXPECT_TRUE(
      HasCheckCondition(h.run({0, 0, 0, 0, 0, 0}, 0, {}, h.b), SenseKey::unit_attention, 0x29, 0));
}

TEST(RequestSense, ReportsAndClearsUnitAttention) {
  Harness h(Harness::Options{.add_nexuses = false});
  h.server->nexus_added(h.a);
  auto o = h.run({0x03, 0, 0, 0, 252, 0}, 252);
  ASSERT_TRUE(IsGood(o));
  ASSERT_EQ(o.data.size(), 18u);
  EXPECT_EQ(o.data[0], 0x70);
  EXPECT_EQ(o.data[2], 0x06);
  EXPECT_EQ(o.data[12], 0x29);
  EXPECT_TRUE(IsGood(h.run({0, 0, 0, 0, 0, 0})));
  // Nothing pending: NO SENSE; DESC=1 gives descriptor format.
  o = h.run({0x03, 1, 0, 0, 252, 0}, 252);
  EXPECT_EQ(o.data, (std::vector<uint8_t>{0x72, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(Mandatory, InvalidOperationCode) {
  Harness h;
  EXPECT_TRUE(
      HasCheckCondition(h.run({0xc0, 0, 0, 0, 0, 0}), SenseKey::illegal_request, 0x20, 0x00));
}

TEST(Mandatory, ReservedBitsAreInvalidFieldInCdb) {
  Harness h;
  auto o = h.run({0x00, 0, 0, 0x10, 0, 0});
  ASSERT_TRUE(IsInvalidFieldInCdb(o));
  // SENSE KEY SPECIFIC: SKSV, C/D, BPV, bit 4 of byte 3.
  EXPECT_EQ(o.result.sense[15], 0xcc);
  EXPECT_EQ(o.result.sense[17], 3);
}

TEST(ReportLuns, Simple) {
  Harness h;
  auto o = h.run({0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, 256);
  ASSERT_TRUE(IsGood(o));
  EXPECT_EQ(o.data, (std::vector<uint8_t>{0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_TRUE(IsInvalidFieldInCdb(h.run({0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 0, 0}, 256)));
  EXPECT_TRUE(IsInvalidFieldInCdb(h.run({0xa0, 0, 3, 0, 0, 0, 0, 0, 1, 0, 0, 0}, 256)));
  // Works on a LUN that does not exist, too.
  EXPECT_TRUE(IsGood(h.run({0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, 256, {}, nullptr, 7)));
}

TEST(ReportSupportedOpcodes, Simple) {
  Harness h;
  auto o = h.run({0xa3, 0x0c, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0}, 4096);
  ASSERT_TRUE(IsGood(o));
  const size_t rows = command_table().size();
  EXPECT_EQ(size_t(o.data[2] << 8 | o.data[3]), rows * 8);
  // Every row of the table is in the list, with its CDB length.
  size_t found_read10 = 0;
  for (size_t off = 4; off + 8 <= o.data.size(); off += 8)
    if (o.data[off] == 0x28) found_read10 = o.data[off + 7];
  EXPECT_EQ(found_read10, 10u);
}

TEST(ReportSupportedOpcodes, Rctd) {
  Harness h;
  auto o = h.run({0xa3, 0x0c, 0x80, 0, 0, 0, 0, 0, 0x10, 0, 0, 0}, 8192);
  ASSERT_TRUE(IsGood(o));
  EXPECT_EQ(size_t(o.data[2] << 8 | o.data[3]), command_table().size() * 20);
  EXPECT_EQ(o.data[4 + 5] & 0x02, 0x02);  // CTDP
  EXPECT_EQ(o.data[4 + 8 + 1], 0x0a);     // timeouts descriptor length
}

TEST(ReportSupportedOpcodes, OneCommand) {
  Harness h;
  auto o = h.run({0xa3, 0x0c, 0x01, 0x28, 0, 0, 0, 0, 0, 64, 0, 0}, 64);
  ASSERT_TRUE(IsGood(o));
  EXPECT_EQ(o.data, (std::vector<uint8_t>{0, 3, 0, 10, 0x28, 0x1e, 0xff, 0xff, 0xff, 0xff, 0x1f,
                                          0xff, 0xff, 0}));
  // Not supported opcode: SUPPORT 001b.
  o = h.run({0xa3, 0x0c, 0x01, 0xc0, 0, 0, 0, 0, 0, 64, 0, 0}, 64);
  EXPECT_EQ(o.data[1], 0x01);
  // Options 1 for an opcode with service actions, options 2 for one without: invalid.
  EXPECT_TRUE(IsInvalidFieldInCdb(h.run({0xa3, 0x0c, 0x01, 0x9e, 0, 0, 0, 0, 0, 64, 0, 0}, 64)));
  EXPECT_TRUE(IsInvalidFieldInCdb(h.run({0xa3, 0x0c, 0x02, 0x28, 0, 0, 0, 0, 0, 64, 0, 0}, 64)));
  o = h.run({0xa3, 0x0c, 0x02, 0x9e, 0, 0x10, 0, 0, 0, 64, 0, 0}, 64);
  EXPECT_EQ(o.data[1], 0x03);
  EXPECT_EQ(o.data[3], 16);
}

TEST(ReportSupportedTaskManagementFunctions, Simple) {
  Harness h;
  auto o = h.run({0xa3, 0x0d, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0}, 4);
  EXPECT_EQ(o.data, (std::vector<uint8_t>{0xda, 0, 0, 0}));
  o = h.run({0xa3, 0x0d, 0x80, 0, 0, 0, 0, 0, 0, 16, 0, 0}, 16);
  EXPECT_EQ(o.data.size(), 16u);
  EXPECT_EQ(o.data[3], 0x0c);
}

TEST(StartStopUnit, FixedDiskAccepts) {
  Harness h;
  EXPECT_TRUE(IsGood(h.run({0x1b, 0, 0, 0, 0x01, 0})));
  EXPECT_TRUE(IsGood(h.run({0x1e, 0, 0, 0, 0x01, 0})));
}

TEST(CommandTable, SortedAndUsageCoversOpcode) {
  auto t = command_table();
  for (size_t i = 0; i < t.size(); ++i) {
    EXPECT_EQ(t[i].usage[0], 0xff) << t[i].name;
    EXPECT_TRUE(t[i].cdb_length == 6 || t[i].cdb_length == 10 || t[i].cdb_length == 12 ||
                t[i].cdb_length == 16)
        << t[i].name;
    if (i) {
      EXPECT_TRUE(t[i - 1].opcode < t[i].opcode ||
                  (t[i - 1].opcode == t[i].opcode && t[i - 1].service_action < t[i].service_action))
          << t[i].name;
    }
  }
}

}  // namespace
}  // namespace swiftness::scsi::test

namespace swiftness::scsi::test {
namespace {

TEST(ReadDefectData10, Simple) {
  Harness h;
  auto o = h.run({0x37, 0, 0x18, 0, 0, 0, 0, 0, 32, 0}, 32);
  ASSERT_TRUE(IsGood(o));
  EXPECT_EQ(o.data, (std::vector<uint8_t>{0, 0x18, 0, 0}));
}

TEST(ReadDefectData12, Simple) {
  Harness h;
  auto o = h.run({0xb7, 0x08, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0}, 32);
  ASSERT_TRUE(IsGood(o));
  EXPECT_EQ(o.data, (std::vector<uint8_t>{0, 0x08, 0, 0, 0, 0, 0, 0}));
}

}  // namespace
}  // namespace swiftness::scsi::test
