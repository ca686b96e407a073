#include "core/crc32c.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string_view>

using swiftness::core::crc32c;

namespace {
std::span<const uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
}  // namespace

// RFC 3720 B.4 test vectors (iSCSI CRC32C), the values as they appear in the digest field.
TEST(Crc32c, Rfc3720ZeroBytes) {
  std::array<uint8_t, 32> zeros{};
  EXPECT_EQ(crc32c(zeros), 0x8a9136aau);
}
TEST(Crc32c, Rfc3720OnesBytes) {
  std::array<uint8_t, 32> ones;
  ones.fill(0xff);
  EXPECT_EQ(crc32c(ones), 0x62a8ab43u);
}
TEST(Crc32c, Rfc3720Incrementing) {
  std::array<uint8_t, 32> inc;
  for (int i = 0; i < 32; ++i) inc[i] = uint8_t(i);
  EXPECT_EQ(crc32c(inc), 0x46dd794eu);
}
TEST(Crc32c, CheckValue) { EXPECT_EQ(crc32c(bytes("123456789")), 0xe3069283u); }
TEST(Crc32c, IncrementalEqualsOneShot) {
  auto whole = crc32c(bytes("hello, iscsi world"));
  auto part = crc32c(bytes(" world"), crc32c(bytes("hello, iscsi")));
  EXPECT_EQ(whole, part);
}
