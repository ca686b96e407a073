#include "swift/md5.hpp"

#include <gtest/gtest.h>

#include <string_view>

namespace swiftness::swift {
namespace {

std::span<const std::byte> b(std::string_view s) {
  return std::as_bytes(std::span(s));
}

// RFC 1321 appendix A.5 test suite.
TEST(Md5, MatchesRfc1321Vectors) {
  EXPECT_EQ(Md5::hex_of(b("")), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(Md5::hex_of(b("abc")), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(Md5::hex_of(b("message digest")), "f96b697d7cb7938d525a2f31aaf161d0");
}

TEST(Md5, IncrementalEqualsOneShotAndResetsAfterFinal) {
  const std::string_view text =
      "12345678901234567890123456789012345678901234567890123456789012345678901234567890";
  Md5 m;
  for (std::size_t i = 0; i < text.size(); i += 7)
    m.update(b(text.substr(i, 7)));
  EXPECT_EQ(m.final_hex(), "57edf4a22be3c955ac49da2e2107b67a");
  m.update(b("abc"));
  EXPECT_EQ(m.final_hex(), "900150983cd24fb0d6963f7d28e17f72");
}

}  // namespace
}  // namespace swiftness::swift
