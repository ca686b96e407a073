#include "target/iscsi/chap.hpp"

#include <gtest/gtest.h>

using namespace swiftness::iscsi;

// Expected values computed independently as MD5(id || secret || challenge) with Python hashlib.
TEST(Chap, ResponseMatchesReferenceMd5) {
  std::vector<uint8_t> challenge(16);
  for (int i = 0; i < 16; ++i)
    challenge[i] = uint8_t(i);
  auto r = chap_response(1, "secretsecret", challenge);
  EXPECT_EQ(encode_hex(r.data(), r.size()), "0x226dc576c33f04ff9c3a200ffe35f442");
  auto r2 = chap_response(0x42, "target-secret1", {0xde, 0xad, 0xbe, 0xef});
  EXPECT_EQ(encode_hex(r2.data(), r2.size()), "0x51833eff1b76869dc03971e15e93cdf5");
}

TEST(Chap, DecodesHexAndBase64) {
  EXPECT_EQ(*decode_binary("0x0102ff"), (std::vector<uint8_t>{1, 2, 0xff}));
  EXPECT_EQ(*decode_binary("0X102"), (std::vector<uint8_t>{1, 2}));  // odd: leading zero
  EXPECT_EQ(*decode_binary("0bAQL/"), (std::vector<uint8_t>{1, 2, 0xff}));
  EXPECT_EQ(*decode_binary("0bAQ=="), (std::vector<uint8_t>{1}));
  EXPECT_FALSE(decode_binary("0xzz"));
  EXPECT_FALSE(decode_binary("1234"));
  EXPECT_FALSE(decode_binary("0b***"));
}

TEST(Chap, RandomChallengesDiffer) {
  EXPECT_NE(random_bytes(16), random_bytes(16));
}
