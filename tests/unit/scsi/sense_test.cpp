#include "target/scsi/sense.hpp"

#include <gtest/gtest.h>

#include "core/result.hpp"

namespace swiftness::scsi {
namespace {

TEST(Sense, FixedFormatGolden) {
  auto s = build_sense({SenseReason::lba_out_of_range, 0x1234}, false);
  EXPECT_EQ(s, (std::vector<uint8_t>{0xf0, 0, 0x05, 0, 0, 0x12, 0x34, 10, 0, 0, 0, 0, 0x21, 0x00, 0,
                                     0, 0, 0}));
}

TEST(Sense, DescriptorFormatGolden) {
  auto s = build_sense({SenseReason::invalid_field_in_cdb, std::nullopt, FieldPointer{true, 2, 5}},
                       true);
  EXPECT_EQ(s, (std::vector<uint8_t>{0x72, 0x05, 0x24, 0x00, 0, 0, 0, 8, 0x02, 0x06, 0, 0, 0xcd,
                                     0x00, 0x02, 0}));
  auto info = build_sense({SenseReason::miscompare_during_verify, 0x100000000ull}, true);
  ASSERT_EQ(info.size(), 20u);
  EXPECT_EQ(info[8], 0x00);
  EXPECT_EQ(info[10], 0x80);
  EXPECT_EQ(info[15], 0x01);
  // Fixed format cannot carry a 64-bit INFORMATION: VALID stays clear.
  EXPECT_EQ(build_sense({SenseReason::miscompare_during_verify, 0x100000000ull}, false)[0], 0x70);
}

TEST(Sense, ParseBothFormats) {
  for (bool d : {false, true}) {
    auto p = parse_sense(build_sense({SenseReason::registrations_preempted}, d));
    ASSERT_TRUE(p);
    EXPECT_EQ(p->key, SenseKey::unit_attention);
    EXPECT_EQ(p->asc, 0x2a);
    EXPECT_EQ(p->ascq, 0x05);
  }
}

TEST(Sense, BlockErrorMapping) {
  using core::block_errc;
  EXPECT_EQ(sense_for_block_error(block_errc::medium_error, false),
            SenseReason::unrecovered_read_error);
  EXPECT_EQ(sense_for_block_error(block_errc::medium_error, true), SenseReason::write_error);
  EXPECT_EQ(sense_for_block_error(block_errc::no_space, true),
            SenseReason::space_allocation_failed_write_protect);
  EXPECT_EQ(sense_for_block_error(block_errc::unavailable, false),
            SenseReason::not_ready_unavailable);
  EXPECT_EQ(sense_for_block_error(block_errc::write_protected, true), SenseReason::write_protected);
  EXPECT_TRUE(is_transient_block_error(block_errc::busy));
  EXPECT_FALSE(is_transient_block_error(block_errc::io_error));
}

}  // namespace
}  // namespace swiftness::scsi
