#include "core/bytes.hpp"

#include <gtest/gtest.h>

#include <array>

using namespace swiftness::core;

TEST(Bytes, RoundTripsEveryWidth) {
  std::array<uint8_t, 8> b{};
  store_be16(b.data(), 0x1234);
  EXPECT_EQ(b[0], 0x12);
  EXPECT_EQ(load_be16(b.data()), 0x1234);
  store_be24(b.data(), 0xabcdef);
  EXPECT_EQ(b[2], 0xef);
  EXPECT_EQ(load_be24(b.data()), 0xabcdefu);
  store_be32(b.data(), 0xdeadbeef);
  EXPECT_EQ(b[0], 0xde);
  EXPECT_EQ(load_be32(b.data()), 0xdeadbeefu);
  store_be64(b.data(), 0x0102030405060708ull);
  EXPECT_EQ(b[7], 0x08);
  EXPECT_EQ(load_be64(b.data()), 0x0102030405060708ull);
}
