// Inputs found by the libFuzzer targets (tests/fuzz), kept as unit tests so the sanitizer pass of
// deploy/run-tests.sh catches a regression without fuzzing.
#include "target/scsi/command_table.hpp"
#include "tests/unit/scsi/harness.hpp"

namespace swiftness::scsi::test {
namespace {

// fuzz_scsi: REPORT LUNS with a data-in direction but EDTL 0 reached DataInWriter with a null
// buffer, and memset(nullptr, 0, 0) is undefined behaviour (UBSan: nonnull-attribute). The iSCSI
// layer hands exactly such a null span over for a READ-direction command with EDTL 0. Every
// data-in row of the command table gets the same treatment here.
TEST(FuzzRegressions, DataInCommandsWithNoBufferTransferNothing) {
  Harness h;
  for (const CommandSpec& spec : command_table()) {
    if (spec.direction != DataDirection::read) continue;
    std::vector<uint8_t> cdb(spec.cdb_length, 0);
    cdb[0] = spec.opcode;
    if (spec.service_action >= 0) cdb[1] = uint8_t(spec.service_action);
    auto o = h.run(cdb, 0);  // EDTL 0: the data-in span is empty with a null pointer
    EXPECT_EQ(o.result.data_in_length, 0u) << spec.name;
    EXPECT_TRUE(o.result.status == Status::good || o.result.status == Status::check_condition)
        << spec.name << ": status " << int(o.result.status);
  }
  // The exact input: REPORT LUNS, ALLOCATION LENGTH 128, EDTL 0.
  auto o = h.run({0xa0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0}, 0);
  EXPECT_TRUE(IsGood(o));
  EXPECT_EQ(o.result.data_in_length, 0u);
}

// fuzz_scsi: READ (6) of 8 blocks with EDTL 0 copied the blocks into the null data-in span
// (memcpy(nullptr, p, 0), UBSan nonnull-attribute). Every READ form, EDTL 0: GOOD, nothing
// transferred, the full length reported for the overflow residual.
TEST(FuzzRegressions, ReadsWithEdtlZeroTransferNothing) {
  Harness h;
  for (auto cdb :
       {std::vector<uint8_t>{0x08, 0, 0, 8, 8, 0}, read10(8, 8),
        std::vector<uint8_t>{0xa8, 0, 0, 0, 0, 8, 0, 0, 0, 8, 0, 0}, cdb16(0x88, 8, 8)}) {
    auto o = h.run(cdb, 0);
    EXPECT_TRUE(IsGood(o)) << int(cdb[0]);
    EXPECT_EQ(o.result.data_in_length, 0u);
    EXPECT_EQ(o.result.full_length, 8u * 512) << int(cdb[0]);
  }
}

}  // namespace
}  // namespace swiftness::scsi::test
