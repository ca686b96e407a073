// Medium-access rows of the command table, named after libiscsi's cases.
#include "tests/unit/scsi/harness.hpp"

namespace swiftness::scsi::test {
namespace {

std::vector<uint8_t> pattern(size_t n, uint8_t v) {
  return std::vector<uint8_t>(n, v);
}

TEST(Read10, Simple) {
  Harness h;
  auto w = pattern(1024, 0xa5);
  ASSERT_TRUE(IsGood(h.run(write10(10, 2), 1024, w)));
  auto o = h.run(read10(10, 2), 1024);
  ASSERT_TRUE(IsGood(o));
  EXPECT_EQ(o.data, w);
}

TEST(Read10, BeyondEol) {
  Harness h;
  EXPECT_TRUE(IsLbaOutOfRange(h.run(read10(2047, 2), 1024)));
  EXPECT_TRUE(IsLbaOutOfRange(h.run(read10(2048, 1), 512)));
  EXPECT_TRUE(IsLbaOutOfRange(h.run(read10(0xffffffff, 1), 512)));
  EXPECT_TRUE(IsGood(h.run(read10(2047, 1), 512)));
}

TEST(Read10, ZeroBlocks) {
  Harness h;
  EXPECT_TRUE(IsGood(h.run(read10(0, 0))));
  EXPECT_TRUE(IsLbaOutOfRange(h.run(read10(2049, 0))));
}

TEST(Read10, Rdprotect) {
  Harness h;
  for (uint8_t p = 1; p < 8; ++p)
    EXPECT_TRUE(IsInvalidFieldInCdb(h.run(read10(0, 1, p << 5), 512)));
}

TEST(Read10, Residuals) {
  Harness h;
  // EDTL of one block for a two-block read: one block transferred, overflow reported.
  auto o = h.run(read10(0, 2), 512);
  ASSERT_TRUE(IsGood(o));
  EXPECT_EQ(o.data.size(), 512u);
  EXPECT_EQ(o.result.full_length, 1024u);
}

TEST(Read6, ZeroMeans256Blocks) {
  Harness h;
  auto o = h.run({0x08, 0, 0, 0, 0, 0}, 256 * 512);
  ASSERT_TRUE(IsGood(o));
  EXPECT_EQ(o.data.size(), 256u * 512);
}

TEST(Write10, Residuals) {
  Harness h;
  ASSERT_TRUE(IsGood(h.run(write10(0, 2), 1024, pattern(1024, 'a'))));
  // Two blocks in the CDB, one block of data: only the first block is written.
  ASSERT_TRUE(IsGood(h.run(write10(0, 2), 512, pattern(512, 'b'))));
  auto o = h.run(read10(0, 2), 1024);
  EXPECT_EQ(o.data[0], 'b');
  EXPECT_EQ(o.data[512], 'a');
}

TEST(Write10, Dpofua) {
  Harness h;
  ASSERT_TRUE(IsGood(h.run(write10(0, 1, 0x18), 512, pattern(512, 1))));
  EXPECT_EQ(h.dev->fua_write_count(), 1u);
  ASSERT_TRUE(IsGood(h.run(write10(0, 1, 0x10), 512, pattern(512, 1))));
  EXPECT_EQ(h.dev->fua_write_count(), 1u);
}

TEST(Write10, Wrprotect) {
  Harness h;
  EXPECT_TRUE(IsInvalidFieldInCdb(h.run(write10(0, 1, 0x20), 512, pattern(512, 1))));
}

TEST(Write16, BeyondEol) {
  Harness h;
  EXPECT_TRUE(IsLbaOutOfRange(h.run(cdb16(0x8a, 2048, 1), 512, pattern(512, 1))));
  EXPECT_TRUE(IsLbaOutOfRange(h.run(cdb16(0x8a, ~0ull, 1), 512, pattern(512, 1))));
}

TEST(SynchronizeCache10, Simple) {
  Harness h;
  ASSERT_TRUE(IsGood(h.run({0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0})));
  EXPECT_EQ(h.dev->flush_count(), 1u);
  EXPECT_TRUE(IsLbaOutOfRange(h.run({0x35, 0, 0, 0, 0x08, 0x01, 0, 0, 0, 0})));
}

TEST(CompareAndWrite, Simple) {
  Harness h;
  ASSERT_TRUE(IsGood(h.run(write10(4, 1), 512, pattern(512, 'x'))));
  auto data = pattern(512, 'x');
  auto repl = pattern(512, 'y');
  data.insert(data.end(), repl.begin(), repl.end());
  auto caw = cdb16(0x89, 4, 0);
  caw[13] = 1;
  ASSERT_TRUE(IsGood(h.run(caw, 1024, data)));
  EXPECT_EQ(h.run(read10(4, 1), 512).data, repl);
}

TEST(CompareAndWrite, Miscompare) {
  Harness h;
  auto old = pattern(1024, 'x');
  old[700] = 'q';  // block 1, byte 188
  ASSERT_TRUE(IsGood(h.run(write10(4, 2), 1024, old)));
  auto data = pattern(1024, 'x');
  auto repl = pattern(1024, 'y');
  data.insert(data.end(), repl.begin(), repl.end());
  auto caw = cdb16(0x89, 4, 0);
  caw[13] = 2;
  auto o = h.run(caw, 2048, data);
  ASSERT_TRUE(HasCheckCondition(o, SenseKey::miscompare, 0x1d, 0x00));
  // Fixed format: VALID, INFORMATION = offset of the first differing byte.
  EXPECT_EQ(o.result.sense[0], 0xf0);
  EXPECT_EQ(o.result.sense[5] << 8 | o.result.sense[6], 700);
  EXPECT_EQ(h.run(read10(4, 2), 1024).data, old);  // nothing written
}

TEST(CompareAndWrite, InvalidDataOutSize) {
  Harness h;
  auto caw = cdb16(0x89, 0, 0);
  caw[13] = 2;
  EXPECT_FALSE(IsGood(h.run(caw, 1024, pattern(1024, 0))));
  EXPECT_FALSE(IsGood(h.run(caw, 4096, pattern(4096, 0))));
}

TEST(WriteSame10, ZeroBlocks) {
  Harness h;
  // 0 blocks = to the end of the medium: from LBA 0 that is more than MAXIMUM WRITE SAME
  // LENGTH on a big LU; here (2048 blocks) it fits.
  ASSERT_TRUE(IsGood(h.run({0x41, 0, 0, 0, 0x07, 0xf0, 0, 0, 0, 0}, 512, pattern(512, 0x5e))));
  EXPECT_EQ(h.run(read10(2032, 16), 16 * 512).data, pattern(16 * 512, 0x5e));
  EXPECT_EQ(h.run(read10(2031, 1), 512).data, pattern(512, 0));
  EXPECT_TRUE(IsGood(h.run({0x41, 0, 0, 0, 0x08, 0x00, 0, 0, 0, 0}, 512, pattern(512, 0))));
  EXPECT_TRUE(
      IsLbaOutOfRange(h.run({0x41, 0, 0, 0, 0x08, 0x01, 0, 0, 0, 0}, 512, pattern(512, 0))));
}

TEST(WriteSame10, Simple) {
  Harness h;
  ASSERT_TRUE(IsGood(h.run({0x41, 0, 0, 0, 0, 8, 0, 0, 16, 0}, 512, pattern(512, 0x3c))));
  auto o = h.run(read10(8, 16), 16 * 512);
  EXPECT_EQ(o.data, pattern(16 * 512, 0x3c));
  EXPECT_FALSE(IsGood(h.run({0x41, 0, 0, 0, 0, 8, 0, 0, 1, 0}, 1024, pattern(1024, 0))));
}

TEST(WriteSame16, UnmapDeallocates) {
  Harness h;
  ASSERT_TRUE(IsGood(h.run(write10(0, 32), 32 * 512, pattern(32 * 512, 7))));
  ASSERT_TRUE(IsGood(h.run(cdb16(0x93, 8, 8, 0x08), 512, pattern(512, 0))));
  auto st = h.run(cdb16(0x9e, 8, 64, 0x12), 64);
  ASSERT_TRUE(IsGood(st));
  EXPECT_EQ(st.data[8 + 12], 0x01);  // deallocated
  EXPECT_EQ(h.run(read10(8, 8), 4096).data, pattern(4096, 0));
}

TEST(Unmap, Simple) {
  Harness h;
  ASSERT_TRUE(IsGood(h.run(write10(0, 64), 64 * 512, pattern(64 * 512, 'a'))));
  std::vector<uint8_t> p(24, 0);
  p[1] = 22;
  p[3] = 16;
  p[8 + 7] = 4;    // LBA 4
  p[8 + 11] = 10;  // 10 blocks
  ASSERT_TRUE(IsGood(h.run({0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0}, 24, p)));
  auto o = h.run(read10(0, 16), 16 * 512);
  EXPECT_EQ(o.data[3 * 512], 'a');
  EXPECT_EQ(o.data[4 * 512], 0);
  EXPECT_EQ(o.data[13 * 512], 0);
  EXPECT_EQ(o.data[14 * 512], 'a');
}

TEST(Unmap, ZeroBlocks) {
  Harness h;
  EXPECT_TRUE(IsGood(h.run({0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0})));
  std::vector<uint8_t> p(24, 0);
  p[1] = 22;
  p[3] = 16;
  p[8 + 6] = 0x08;  // LBA 2048 = end of LUN, 0 blocks
  EXPECT_TRUE(IsGood(h.run({0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0}, 24, p)));
  p[8 + 11] = 1;  // one block past the end
  EXPECT_TRUE(IsLbaOutOfRange(h.run({0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0}, 24, p)));
}

TEST(Unmap, ThickLunDoesNotUnmap) {
  Harness h(Harness::Options{.thin = false});
  EXPECT_TRUE(HasCheckCondition(h.run({0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0}), SenseKey::illegal_request,
                                0x20, 0x00));
}

TEST(GetLBAStatus, Simple) {
  Harness h;
  ASSERT_TRUE(IsGood(h.run(write10(0, 4), 2048, pattern(2048, 1))));
  auto o = h.run(cdb16(0x9e, 0, 64, 0x12), 64);
  ASSERT_TRUE(IsGood(o));
  // Descriptor 1: LBA 0, 4 blocks, mapped; descriptor 2: LBA 4, the rest, deallocated.
  EXPECT_EQ(o.data[8 + 11], 4);
  EXPECT_EQ(o.data[8 + 12], 0);
  EXPECT_EQ(o.data[24 + 7], 4);
  EXPECT_EQ(o.data[24 + 12], 1);
}

TEST(GetLBAStatus, BeyondEol) {
  Harness h;
  EXPECT_TRUE(IsLbaOutOfRange(h.run(cdb16(0x9e, 2048, 64, 0x12), 64)));
  EXPECT_TRUE(IsGood(h.run(cdb16(0x9e, 2047, 64, 0x12), 64)));
}

TEST(Verify10, Mismatch) {
  Harness h;
  ASSERT_TRUE(IsGood(h.run(write10(0, 2), 1024, pattern(1024, 'm'))));
  auto cmp = pattern(1024, 'm');
  EXPECT_TRUE(IsGood(h.run({0x2f, 0x02, 0, 0, 0, 0, 0, 0, 2, 0}, 1024, cmp)));
  cmp[600] = 'n';
  auto o = h.run({0x2f, 0x02, 0, 0, 0, 0, 0, 0, 2, 0}, 1024, cmp);
  ASSERT_TRUE(HasCheckCondition(o, SenseKey::miscompare, 0x1d, 0));
  EXPECT_EQ(o.result.sense[5] << 8 | o.result.sense[6], 600);
  // BYTCHK 0: medium verification only.
  EXPECT_TRUE(IsGood(h.run({0x2f, 0, 0, 0, 0, 0, 0, 0, 2, 0})));
  // BYTCHK 11b: one block compared against each block.
  EXPECT_TRUE(IsGood(h.run({0x2f, 0x06, 0, 0, 0, 0, 0, 0, 2, 0}, 512, pattern(512, 'm'))));
  // VRPROTECT is not supported.
  EXPECT_TRUE(IsInvalidFieldInCdb(h.run({0x2f, 0x20, 0, 0, 0, 0, 0, 0, 2, 0})));
}

TEST(OrWrite, Simple) {
  Harness h;
  ASSERT_TRUE(IsGood(h.run(write10(0, 1), 512, pattern(512, 0x0f))));
  ASSERT_TRUE(IsGood(h.run(cdb16(0x8b, 0, 1), 512, pattern(512, 0xf0))));
  EXPECT_EQ(h.run(read10(0, 1), 512).data, pattern(512, 0xff));
}

TEST(Prefetch10, Simple) {
  Harness h;
  EXPECT_TRUE(IsGood(h.run({0x34, 0, 0, 0, 0, 0, 0, 0, 8, 0})));
  EXPECT_TRUE(IsLbaOutOfRange(h.run({0x34, 0, 0, 0, 0x08, 0x00, 0, 0, 1, 0})));
}

TEST(WriteVerify10, Simple) {
  Harness h;
  ASSERT_TRUE(IsGood(h.run({0x2e, 0, 0, 0, 0, 3, 0, 0, 1, 0}, 512, pattern(512, 9))));
  EXPECT_EQ(h.run(read10(3, 1), 512).data, pattern(512, 9));
}

}  // namespace
}  // namespace swiftness::scsi::test

namespace swiftness::scsi::test {
namespace {

TEST(Write10, ResidualsReportWhatTheCommandWanted) {
  Harness h;
  // Two blocks in the CDB, one sent: the transport computes overflow from full_length.
  auto o = h.run(write10(0, 2), 512, pattern(512, 1));
  ASSERT_TRUE(IsGood(o));
  EXPECT_EQ(o.result.full_length, 1024u);
  o = h.run(write10(0, 1), 0, {});
  ASSERT_TRUE(IsGood(o));
  EXPECT_EQ(o.result.full_length, 512u);
}

TEST(WriteSame10, UnmapVPDThickRejectsUnmap) {
  Harness h(Harness::Options{.thin = false});
  EXPECT_TRUE(
      IsInvalidFieldInCdb(h.run({0x41, 0x08, 0, 0, 0, 0, 0, 0, 1, 0}, 512, pattern(512, 0))));
  EXPECT_TRUE(IsGood(h.run({0x41, 0, 0, 0, 0, 0, 0, 0, 1, 0}, 512, pattern(512, 0))));
}

TEST(CompareAndWrite, ZeroBlocksWithDataIsInvalid) {
  Harness h;
  auto caw = cdb16(0x89, 0, 0);
  EXPECT_TRUE(IsGood(h.run(caw)));
  EXPECT_TRUE(IsInvalidFieldInCdb(h.run(caw, 1024, pattern(1024, 0))));
}

}  // namespace
}  // namespace swiftness::scsi::test

namespace swiftness::scsi::test {
namespace {

TEST(WriteSame10, UnmapUntilEndIgnoresTheDataBlock) {
  Harness h;
  ASSERT_TRUE(IsGood(h.run(write10(2040, 8), 8 * 512, pattern(8 * 512, 0xff))));
  // UNMAP with a block of FFh and NUMBER OF LOGICAL BLOCKS 0: unmapped to the end, reads zero.
  ASSERT_TRUE(IsGood(h.run({0x41, 0x08, 0, 0, 0x07, 0xf8, 0, 0, 0, 0}, 512, pattern(512, 0xff))));
  EXPECT_EQ(h.run(read10(2040, 8), 8 * 512).data, pattern(8 * 512, 0));
}

// The transport sizes a READ's buffer from transfer_bytes() before the command runs (issue 8):
// it must decode every block transfer CDB as the command will, and say 0 exactly when the
// command will fail for exceeding MAXIMUM TRANSFER LENGTH (the RAM device's 8 MiB).
TEST(TransferBytes, DecodedFromTheCdbWithinTheLunsLimit) {
  constexpr uint32_t kLimitBlocks = (8u << 20) / 512;
  Harness::Options o;
  o.blocks = 2 * kLimitBlocks;  // so the range check passes and the length check decides
  Harness h(o);
  EXPECT_EQ(h.server->transfer_bytes(0, read10(0, 8)), 8u * 512);
  EXPECT_EQ(h.server->transfer_bytes(0, write10(0, 3)), 3u * 512);
  EXPECT_EQ(h.server->transfer_bytes(0, cdb16(0x88, 0, kLimitBlocks)),
            uint64_t(kLimitBlocks) * 512);
  EXPECT_EQ(h.server->transfer_bytes(0, std::vector<uint8_t>{0x08, 0, 0, 0, 0, 0}), 256u * 512)
      << "READ (6) TRANSFER LENGTH 0 means 256 blocks";
  EXPECT_EQ(h.server->transfer_bytes(0, cdb16(0x88, 0, kLimitBlocks + 1)), 0u);
  EXPECT_EQ(h.server->transfer_bytes(0, cdb16(0x8a, 0, 0xffffffff)), 0u);
  // What the command itself answers when over the limit, without a buffer.
  std::vector<uint8_t> over = cdb16(0x88, 0, kLimitBlocks + 1);
  EXPECT_TRUE(IsInvalidFieldInCdb(h.run(over, 0)));
  // Not block transfers, an unknown LUN, a short CDB: no answer, the transport's own cap holds.
  EXPECT_EQ(h.server->transfer_bytes(0, std::vector<uint8_t>{0x12, 0, 0, 0xff, 0xff, 0}),
            std::nullopt);
  EXPECT_EQ(h.server->transfer_bytes(7, read10(0, 8)), std::nullopt);
  EXPECT_EQ(h.server->transfer_bytes(0, std::vector<uint8_t>{0x28, 0, 0}), std::nullopt);
  EXPECT_EQ(h.server->transfer_bytes(0, std::vector<uint8_t>{}), std::nullopt);
}

}  // namespace
}  // namespace swiftness::scsi::test
