#include "tests/bench/iscsi/cli_util.hpp"

#include <gtest/gtest.h>

namespace swiftness::bench {
namespace {

TEST(CliUtil, Sizes) {
  EXPECT_EQ(4096u, parse_size("4096"));
  EXPECT_EQ(4096u, parse_size("4k"));
  EXPECT_EQ(4096u, parse_size("4KiB"));
  EXPECT_EQ(1048576u, parse_size("1m"));
  EXPECT_EQ(1048576u, parse_size("1MiB"));
  EXPECT_EQ(uint64_t{3} << 30, parse_size("3G"));
  EXPECT_FALSE(parse_size(""));
  EXPECT_FALSE(parse_size("k"));
  EXPECT_FALSE(parse_size("4x"));
  EXPECT_FALSE(parse_size("4kk"));
  EXPECT_FALSE(parse_size("-1"));
  EXPECT_FALSE(parse_size("99999999999999t"));
}

TEST(CliUtil, SizeLists) {
  auto l = parse_size_list("4k,1m");
  ASSERT_TRUE(l);
  EXPECT_EQ((std::vector<uint64_t>{4096, 1048576}), *l);
  EXPECT_FALSE(parse_size_list("4k,"));
  EXPECT_FALSE(parse_size_list(",4k"));
}

TEST(CliUtil, Ranges) {
  auto r = parse_range("2048:131072");
  ASSERT_TRUE(r);
  EXPECT_EQ(2048u, r->lba);
  EXPECT_EQ(131072u, r->blocks);
  EXPECT_FALSE(parse_range("2048"));
  EXPECT_FALSE(parse_range("1:0"));
  EXPECT_FALSE(parse_range("a:1"));
  EXPECT_FALSE(parse_range("1:"));
}

TEST(CliUtil, SizeNames) {
  EXPECT_EQ("4 KiB", size_name(4096));
  EXPECT_EQ("1 MiB", size_name(1 << 20));
  EXPECT_EQ("512 B", size_name(512));
}

}  // namespace
}  // namespace swiftness::bench
