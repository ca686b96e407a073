// The multi-lane MD5 (core/md5_lanes.hpp) against OpenSSL's: every length class around the
// block and padding boundaries, every lane count, lanes of different lengths and alignments,
// with the SIMD kernel on and off.
#include "core/md5_lanes.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <random>
#include <string_view>
#include <vector>

namespace {

using swiftness::core::Md5Digest;
namespace core = swiftness::core;

std::string openssl_md5(std::span<const std::byte> m) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(m.data(), m.size(), md, &len, EVP_md5(), nullptr), 1);
  Md5Digest d{};
  std::copy(md, md + 16, d.begin());
  return core::md5_digest_hex(d);
}

std::span<const std::byte> bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

std::vector<std::byte> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> v(n);
  for (auto& b : v)
    b = std::byte(rng());
  return v;
}

// Runs each test with the SIMD kernel (where the CPU has one) and with the plain one.
class Md5Lanes : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { core::md5_lanes_set_simd(GetParam()); }
  void TearDown() override { core::md5_lanes_set_simd(true); }
};

INSTANTIATE_TEST_SUITE_P(Kernels, Md5Lanes, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Simd" : "Plain"; });

TEST_P(Md5Lanes, Rfc1321Vectors) {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", "d41d8cd98f00b204e9800998ecf8427e"},
      {"a", "0cc175b9c0f1b6a831c399e269772661"},
      {"abc", "900150983cd24fb0d6963f7d28e17f72"},
      {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
      {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
      {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
       "d174ab98d277d9f5a5611c2c9f419d9f"},
      {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
       "57edf4a22be3c955ac49da2e2107b67a"},
  };
  std::vector<std::span<const std::byte>> msgs;
  for (const auto& [m, want] : vectors) {
    EXPECT_EQ(core::md5_digest_hex(core::md5(bytes(m))), want) << m;
    msgs.push_back(bytes(m));
  }
  // All seven at once, as lanes of one call.
  std::vector<Md5Digest> out(msgs.size());
  core::md5_many(msgs, out);
  for (size_t i = 0; i < msgs.size(); ++i)
    EXPECT_EQ(core::md5_digest_hex(out[i]), vectors[i].second);
}

TEST_P(Md5Lanes, EveryLaneCountEqualLengths) {
  const size_t lengths[] = {0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 65536 + 17};
  for (size_t len : lengths) {
    for (size_t lanes = 1; lanes <= 2 * core::kMd5MaxLanes + 1; ++lanes) {
      std::vector<std::vector<std::byte>> data;
      std::vector<std::span<const std::byte>> msgs;
      for (size_t l = 0; l < lanes; ++l)
        data.push_back(random_bytes(len, uint32_t(len * 31 + l)));
      for (auto& d : data)
        msgs.push_back(d);
      std::vector<Md5Digest> out(lanes);
      core::md5_many(msgs, out);
      for (size_t l = 0; l < lanes; ++l)
        ASSERT_EQ(core::md5_digest_hex(out[l]), openssl_md5(msgs[l]))
            << "len " << len << " lane " << l << " of " << lanes;
    }
  }
}

TEST_P(Md5Lanes, FourMiBChunks) {
  std::vector<std::vector<std::byte>> data;
  std::vector<std::span<const std::byte>> msgs;
  for (uint32_t l = 0; l < core::kMd5MaxLanes; ++l)
    data.push_back(random_bytes(4 << 20, 7 + l));
  for (auto& d : data)
    msgs.push_back(d);
  std::vector<Md5Digest> out(msgs.size());
  core::md5_many(msgs, out);
  for (size_t l = 0; l < msgs.size(); ++l)
    EXPECT_EQ(core::md5_digest_hex(out[l]), openssl_md5(msgs[l]));
}

TEST_P(Md5Lanes, DifferentLengthsAndAlignments) {
  std::mt19937 rng(12345);
  const auto pool = random_bytes(300000, 99);
  for (int round = 0; round < 200; ++round) {
    const size_t lanes = 1 + rng() % 11;
    std::vector<std::span<const std::byte>> msgs;
    for (size_t l = 0; l < lanes; ++l) {
      // Lengths from empty to a few thousand blocks, starting at any byte offset.
      const size_t len = rng() % 4 == 0 ? rng() % 130 : rng() % 200000;
      const size_t off = rng() % (pool.size() - len);
      msgs.emplace_back(pool.data() + off, len);
    }
    std::vector<Md5Digest> out(lanes);
    core::md5_many(msgs, out);
    for (size_t l = 0; l < lanes; ++l)
      ASSERT_EQ(core::md5_digest_hex(out[l]), openssl_md5(msgs[l]))
          << "round " << round << " lane " << l;
  }
}

// The incremental interface the codec uses: states advanced in steps, lanes joined in lockstep
// for some steps and alone for others, then finished.
TEST_P(Md5Lanes, IncrementalStepsMatchOneShot) {
  const auto a = random_bytes(10 * 64 + 13, 1), b = random_bytes(7 * 64 + 63, 2),
             c = random_bytes(12 * 64, 3);
  core::Md5State s[3] = {core::md5_init(), core::md5_init(), core::md5_init()};
  const std::byte* p[3] = {a.data(), b.data(), c.data()};
  core::md5_blocks_lanes(s, p, 3, 3);  // blocks 0-2 of all three
  const std::byte* q[3] = {a.data() + 192, b.data() + 192, c.data() + 192};
  core::md5_blocks_lanes(s, q, 3, 4);  // 3-6
  core::md5_blocks(s[0], a.data() + 448, 3);
  core::md5_blocks(s[2], c.data() + 448, 5);
  EXPECT_EQ(core::md5_digest_hex(core::md5_finish(s[0], std::span(a).subspan(640), a.size())),
            openssl_md5(a));
  EXPECT_EQ(core::md5_digest_hex(core::md5_finish(s[1], std::span(b).subspan(448), b.size())),
            openssl_md5(b));
  EXPECT_EQ(core::md5_digest_hex(core::md5_finish(s[2], std::span(c).subspan(768), c.size())),
            openssl_md5(c));
}

TEST(Md5LanesKernel, ReportsWhatItUses) {
  const std::string k = core::md5_lanes_kernel();
  EXPECT_TRUE(k == "avx2" || k == "plain") << k;
  EXPECT_EQ(k == "avx2", bool(__builtin_cpu_supports("avx2")));
}

}  // namespace
