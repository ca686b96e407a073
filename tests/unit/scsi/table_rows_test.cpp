// Every row of the command table, table-driven: the CDB layouts of the 6/10/12/16-byte READ,
// WRITE, WRITE AND VERIFY, VERIFY, PRE-FETCH and SYNCHRONIZE CACHE rows (libiscsi Read6/12/16,
// Write12/16, WriteVerify12/16, Verify12/16, Prefetch16 ... Simple and BeyondEol), and the rows
// not covered elsewhere (MODE SELECT (10), RESERVE/RELEASE (10), PREEMPT AND ABORT).
#include "target/scsi/command_table.hpp"
#include "tests/unit/scsi/harness.hpp"

namespace swiftness::scsi::test {
namespace {

// A CDB of the given opcode and length addressing `blocks` blocks at `lba`.
std::vector<uint8_t> make_cdb(uint8_t op, uint8_t len, uint64_t lba, uint32_t blocks,
                              uint8_t b1 = 0) {
  std::vector<uint8_t> c(len, 0);
  c[0] = op;
  c[1] = b1;
  switch (len) {
    case 6:
      c[1] = uint8_t((lba >> 16) & 0x1f);
      c[2] = uint8_t(lba >> 8);
      c[3] = uint8_t(lba);
      c[4] = uint8_t(blocks);
      break;
    case 10:
      for (int i = 0; i < 4; ++i)
        c[2 + i] = uint8_t(lba >> (24 - 8 * i));
      c[7] = uint8_t(blocks >> 8);
      c[8] = uint8_t(blocks);
      break;
    case 12:
      for (int i = 0; i < 4; ++i)
        c[2 + i] = uint8_t(lba >> (24 - 8 * i));
      for (int i = 0; i < 4; ++i)
        c[6 + i] = uint8_t(blocks >> (24 - 8 * i));
      break;
    default:
      for (int i = 0; i < 8; ++i)
        c[2 + i] = uint8_t(lba >> (56 - 8 * i));
      for (int i = 0; i < 4; ++i)
        c[10 + i] = uint8_t(blocks >> (24 - 8 * i));
  }
  return c;
}

struct RwPair {
  const char* name;
  uint8_t write_op, read_op, len;
};

class ReadWriteRows : public ::testing::TestWithParam<RwPair> {};

TEST_P(ReadWriteRows, SimpleAndBeyondEol) {
  const RwPair p = GetParam();
  Harness h;
  std::vector<uint8_t> data(4 * 512);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = uint8_t(i * 13 + p.write_op);
  ASSERT_TRUE(IsGood(h.run(make_cdb(p.write_op, p.len, 100, 4), 2048, data)));
  auto back = h.run(make_cdb(p.read_op, p.len, 100, 4), 2048);
  ASSERT_TRUE(IsGood(back));
  EXPECT_EQ(back.data, data);
  EXPECT_TRUE(IsLbaOutOfRange(h.run(make_cdb(p.read_op, p.len, 2045, 4), 2048)));
  EXPECT_TRUE(IsLbaOutOfRange(h.run(make_cdb(p.write_op, p.len, 2045, 4), 2048, data)));
}

INSTANTIATE_TEST_SUITE_P(Rows, ReadWriteRows,
                         ::testing::Values(RwPair{"Write6Read6", 0x0a, 0x08, 6},
                                           RwPair{"Write10Read10", 0x2a, 0x28, 10},
                                           RwPair{"Write12Read12", 0xaa, 0xa8, 12},
                                           RwPair{"Write16Read16", 0x8a, 0x88, 16},
                                           RwPair{"WriteVerify10Read10", 0x2e, 0x28, 10},
                                           RwPair{"WriteVerify12Read12", 0xae, 0xa8, 12},
                                           RwPair{"WriteVerify16Read16", 0x8e, 0x88, 16}),
                         [](const auto& info) { return std::string(info.param.name); });

struct NoDataRow {
  const char* name;
  uint8_t op, len, b1;
};

class VerifyAndCacheRows : public ::testing::TestWithParam<NoDataRow> {};

TEST_P(VerifyAndCacheRows, SimpleAndBeyondEol) {
  const NoDataRow p = GetParam();
  Harness h;
  EXPECT_TRUE(IsGood(h.run(make_cdb(p.op, p.len, 0, 8, p.b1))));
  EXPECT_TRUE(IsLbaOutOfRange(h.run(make_cdb(p.op, p.len, 2047, 2, p.b1))));
}

INSTANTIATE_TEST_SUITE_P(Rows, VerifyAndCacheRows,
                         ::testing::Values(NoDataRow{"Verify10", 0x2f, 10, 0},
                                           NoDataRow{"Verify12", 0xaf, 12, 0},
                                           NoDataRow{"Verify16", 0x8f, 16, 0},
                                           NoDataRow{"Prefetch10", 0x34, 10, 0x02},
                                           NoDataRow{"Prefetch16", 0x90, 16, 0x02},
                                           NoDataRow{"SynchronizeCache10", 0x35, 10, 0x02},
                                           NoDataRow{"SynchronizeCache16", 0x91, 16, 0x02}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(CommandTable, EveryRowIsDispatched) {
  // Each row, sent with an all-zero body, reaches its handler: never INVALID COMMAND OPERATION
  // CODE, and a service action row is never "unsupported service action".
  for (const auto& row : command_table()) {
    Harness h;
    std::vector<uint8_t> cdb(row.cdb_length, 0);
    cdb[0] = row.opcode;
    if (row.service_action >= 0) cdb[1] = uint8_t(row.service_action);
    auto o = h.run(cdb, 512, {});
    auto d = parse_sense(o.result.sense);
    if (d) {
      EXPECT_FALSE(d->key == SenseKey::illegal_request && d->asc == 0x20) << row.name;
    }
    if (d && row.service_action >= 0 && d->key == SenseKey::illegal_request && d->asc == 0x24) {
      // A field other than SERVICE ACTION may be invalid (e.g. PR OUT needs a parameter list),
      // but the field pointer must not point at byte 1.
      EXPECT_NE(o.result.sense[16] << 8 | o.result.sense[17], 1) << row.name;
    }
  }
}

TEST(ModeSelect10, ChangesCachingPage) {
  Harness h;
  std::vector<uint8_t> p(8 + 20, 0);  // 8-byte header, no block descriptor, Caching page
  p[8] = 0x08;
  p[9] = 0x12;  // WCE = 0
  ASSERT_TRUE(
      IsGood(h.run({0x55, 0x10, 0, 0, 0, 0, 0, 0, uint8_t(p.size()), 0}, uint32_t(p.size()), p)));
  auto o = h.run({0x5a, 0x08, 0x08, 0, 0, 0, 0, 0, 255, 0}, 255);
  EXPECT_EQ(o.data[8 + 2] & 0x04, 0);
}

TEST(Reserve10, TwoInitiators) {
  Harness h;
  ASSERT_TRUE(IsGood(h.run({0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0})));
  EXPECT_TRUE(IsReservationConflict(h.run({0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0, {}, h.b)));
  ASSERT_TRUE(IsGood(h.run({0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0})));
  EXPECT_TRUE(IsGood(h.run({0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0, {}, h.b)));
}

TEST(ProutPreempt, PreemptAndAbortRemovesTheHolder) {
  Harness h;
  auto params = [](uint64_t key, uint64_t sak) {
    std::vector<uint8_t> p(24, 0);
    for (int i = 0; i < 8; ++i)
      p[i] = uint8_t(key >> (56 - 8 * i));
    for (int i = 0; i < 8; ++i)
      p[8 + i] = uint8_t(sak >> (56 - 8 * i));
    return p;
  };
  ASSERT_TRUE(IsGood(h.run({0x5f, 6, 0, 0, 0, 0, 0, 0, 24, 0}, 24, params(0, 1))));
  ASSERT_TRUE(IsGood(h.run({0x5f, 6, 0, 0, 0, 0, 0, 0, 24, 0}, 24, params(0, 2), h.b)));
  ASSERT_TRUE(IsGood(h.run({0x5f, 1, 3, 0, 0, 0, 0, 0, 24, 0}, 24, params(1, 0))));
  ASSERT_TRUE(IsGood(h.run({0x5f, 5, 3, 0, 0, 0, 0, 0, 24, 0}, 24, params(2, 1), h.b)));
  // The preempted nexus is told first, then finds the LU exclusively reserved by b.
  EXPECT_TRUE(HasCheckCondition(h.run(read10(0, 1), 512), SenseKey::unit_attention, 0x2a, 0x05));
  EXPECT_TRUE(IsReservationConflict(h.run(read10(0, 1), 512)));
  EXPECT_TRUE(IsGood(h.run(read10(0, 1), 512, {}, h.b)));
}

}  // namespace
}  // namespace swiftness::scsi::test
