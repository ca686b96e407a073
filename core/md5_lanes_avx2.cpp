// The 8-lane MD5 kernel (md5_lanes.hpp): lane l of every register holds message l's value, so
// each of RFC 1321's 64 steps is a handful of AVX2 instructions for all 8 messages. Only this
// file is compiled with -mavx2 (core/CMakeLists.txt); md5_blocks_lanes calls it only where
// __builtin_cpu_supports("avx2") said yes.
#include <immintrin.h>

#include "core/md5_lanes.hpp"

namespace swiftness::core::detail {

namespace {

using V = __m256i;

template <int S>
V rotl(V x) {
  return _mm256_or_si256(_mm256_slli_epi32(x, S), _mm256_srli_epi32(x, 32 - S));
}

V add(V a, V b) {
  return _mm256_add_epi32(a, b);
}
V k(uint32_t t) {
  return _mm256_set1_epi32(int(t));
}

// The four rounds' functions, as in md5_lanes.cpp's plain kernel.
V f_fn(V b, V c, V d) {
  return _mm256_xor_si256(d, _mm256_and_si256(b, _mm256_xor_si256(c, d)));
}
V g_fn(V b, V c, V d) {
  return _mm256_xor_si256(c, _mm256_and_si256(d, _mm256_xor_si256(b, c)));
}
V h_fn(V b, V c, V d) {
  return _mm256_xor_si256(_mm256_xor_si256(b, c), d);
}
V i_fn(V b, V c, V d) {
  return _mm256_xor_si256(c, _mm256_or_si256(b, _mm256_xor_si256(d, _mm256_set1_epi32(-1))));
}

// 8 rows of 8 words (one row per lane) -> 8 registers of one word each (one lane per message).
void transpose(V r[8]) {
  const V t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
  const V t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
  const V t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
  const V t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
  const V u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
  const V u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
  const V u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
  const V u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
  r[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
  r[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
  r[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
  r[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
  r[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
  r[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
  r[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
  r[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

V load(const std::byte* p) {
  return _mm256_loadu_si256(reinterpret_cast<const V*>(p));
}

}  // namespace

// One step: a = b + rotl(a + fn(b, c, d) + x[k] + t, s).
#define MD5_STEP(fn, a, b, c, d, xk, t, s) \
  a = add(b, rotl<s>(add(add(a, fn(b, c, d)), add(xk, k(t)))))

void md5_blocks_avx2(Md5State* states, const std::byte* const* data, size_t n, size_t blocks) {
  const std::byte* p[8];
  alignas(32) uint32_t sa[8], sb[8], sc[8], sd[8];
  for (size_t l = 0; l < 8; ++l) {
    // Unused lanes hash lane 0's bytes again; their results are dropped.
    const size_t src = l < n ? l : 0;
    p[l] = data[src];
    sa[l] = states[src].a;
    sb[l] = states[src].b;
    sc[l] = states[src].c;
    sd[l] = states[src].d;
  }
  V a = _mm256_load_si256(reinterpret_cast<const V*>(sa));
  V b = _mm256_load_si256(reinterpret_cast<const V*>(sb));
  V c = _mm256_load_si256(reinterpret_cast<const V*>(sc));
  V d = _mm256_load_si256(reinterpret_cast<const V*>(sd));
  for (size_t blk = 0; blk < blocks; ++blk) {
    const size_t off = blk * kMd5Block;
    V x[16];
    for (int l = 0; l < 8; ++l) {
      x[l] = load(p[l] + off);
      x[8 + l] = load(p[l] + off + 32);
    }
    transpose(x);
    transpose(x + 8);
    const V a0 = a, b0 = b, c0 = c, d0 = d;
    MD5_STEP(f_fn, a, b, c, d, x[0], 0xd76aa478, 7);
    MD5_STEP(f_fn, d, a, b, c, x[1], 0xe8c7b756, 12);
    MD5_STEP(f_fn, c, d, a, b, x[2], 0x242070db, 17);
    MD5_STEP(f_fn, b, c, d, a, x[3], 0xc1bdceee, 22);
    MD5_STEP(f_fn, a, b, c, d, x[4], 0xf57c0faf, 7);
    MD5_STEP(f_fn, d, a, b, c, x[5], 0x4787c62a, 12);
    MD5_STEP(f_fn, c, d, a, b, x[6], 0xa8304613, 17);
    MD5_STEP(f_fn, b, c, d, a, x[7], 0xfd469501, 22);
    MD5_STEP(f_fn, a, b, c, d, x[8], 0x698098d8, 7);
    MD5_STEP(f_fn, d, a, b, c, x[9], 0x8b44f7af, 12);
    MD5_STEP(f_fn, c, d, a, b, x[10], 0xffff5bb1, 17);
    MD5_STEP(f_fn, b, c, d, a, x[11], 0x895cd7be, 22);
    MD5_STEP(f_fn, a, b, c, d, x[12], 0x6b901122, 7);
    MD5_STEP(f_fn, d, a, b, c, x[13], 0xfd987193, 12);
    MD5_STEP(f_fn, c, d, a, b, x[14], 0xa679438e, 17);
    MD5_STEP(f_fn, b, c, d, a, x[15], 0x49b40821, 22);

    MD5_STEP(g_fn, a, b, c, d, x[1], 0xf61e2562, 5);
    MD5_STEP(g_fn, d, a, b, c, x[6], 0xc040b340, 9);
    MD5_STEP(g_fn, c, d, a, b, x[11], 0x265e5a51, 14);
    MD5_STEP(g_fn, b, c, d, a, x[0], 0xe9b6c7aa, 20);
    MD5_STEP(g_fn, a, b, c, d, x[5], 0xd62f105d, 5);
    MD5_STEP(g_fn, d, a, b, c, x[10], 0x02441453, 9);
    MD5_STEP(g_fn, c, d, a, b, x[15], 0xd8a1e681, 14);
    MD5_STEP(g_fn, b, c, d, a, x[4], 0xe7d3fbc8, 20);
    MD5_STEP(g_fn, a, b, c, d, x[9], 0x21e1cde6, 5);
    MD5_STEP(g_fn, d, a, b, c, x[14], 0xc33707d6, 9);
    MD5_STEP(g_fn, c, d, a, b, x[3], 0xf4d50d87, 14);
    MD5_STEP(g_fn, b, c, d, a, x[8], 0x455a14ed, 20);
    MD5_STEP(g_fn, a, b, c, d, x[13], 0xa9e3e905, 5);
    MD5_STEP(g_fn, d, a, b, c, x[2], 0xfcefa3f8, 9);
    MD5_STEP(g_fn, c, d, a, b, x[7], 0x676f02d9, 14);
    MD5_STEP(g_fn, b, c, d, a, x[12], 0x8d2a4c8a, 20);

    MD5_STEP(h_fn, a, b, c, d, x[5], 0xfffa3942, 4);
    MD5_STEP(h_fn, d, a, b, c, x[8], 0x8771f681, 11);
    MD5_STEP(h_fn, c, d, a, b, x[11], 0x6d9d6122, 16);
    MD5_STEP(h_fn, b, c, d, a, x[14], 0xfde5380c, 23);
    MD5_STEP(h_fn, a, b, c, d, x[1], 0xa4beea44, 4);
    MD5_STEP(h_fn, d, a, b, c, x[4], 0x4bdecfa9, 11);
    MD5_STEP(h_fn, c, d, a, b, x[7], 0xf6bb4b60, 16);
    MD5_STEP(h_fn, b, c, d, a, x[10], 0xbebfbc70, 23);
    MD5_STEP(h_fn, a, b, c, d, x[13], 0x289b7ec6, 4);
    MD5_STEP(h_fn, d, a, b, c, x[0], 0xeaa127fa, 11);
    MD5_STEP(h_fn, c, d, a, b, x[3], 0xd4ef3085, 16);
    MD5_STEP(h_fn, b, c, d, a, x[6], 0x04881d05, 23);
    MD5_STEP(h_fn, a, b, c, d, x[9], 0xd9d4d039, 4);
    MD5_STEP(h_fn, d, a, b, c, x[12], 0xe6db99e5, 11);
    MD5_STEP(h_fn, c, d, a, b, x[15], 0x1fa27cf8, 16);
    MD5_STEP(h_fn, b, c, d, a, x[2], 0xc4ac5665, 23);

    MD5_STEP(i_fn, a, b, c, d, x[0], 0xf4292244, 6);
    MD5_STEP(i_fn, d, a, b, c, x[7], 0x432aff97, 10);
    MD5_STEP(i_fn, c, d, a, b, x[14], 0xab9423a7, 15);
    MD5_STEP(i_fn, b, c, d, a, x[5], 0xfc93a039, 21);
    MD5_STEP(i_fn, a, b, c, d, x[12], 0x655b59c3, 6);
    MD5_STEP(i_fn, d, a, b, c, x[3], 0x8f0ccc92, 10);
    MD5_STEP(i_fn, c, d, a, b, x[10], 0xffeff47d, 15);
    MD5_STEP(i_fn, b, c, d, a, x[1], 0x85845dd1, 21);
    MD5_STEP(i_fn, a, b, c, d, x[8], 0x6fa87e4f, 6);
    MD5_STEP(i_fn, d, a, b, c, x[15], 0xfe2ce6e0, 10);
    MD5_STEP(i_fn, c, d, a, b, x[6], 0xa3014314, 15);
    MD5_STEP(i_fn, b, c, d, a, x[13], 0x4e0811a1, 21);
    MD5_STEP(i_fn, a, b, c, d, x[4], 0xf7537e82, 6);
    MD5_STEP(i_fn, d, a, b, c, x[11], 0xbd3af235, 10);
    MD5_STEP(i_fn, c, d, a, b, x[2], 0x2ad7d2bb, 15);
    MD5_STEP(i_fn, b, c, d, a, x[9], 0xeb86d391, 21);

    a = add(a, a0);
    b = add(b, b0);
    c = add(c, c0);
    d = add(d, d0);
  }
#undef MD5_STEP
  _mm256_store_si256(reinterpret_cast<V*>(sa), a);
  _mm256_store_si256(reinterpret_cast<V*>(sb), b);
  _mm256_store_si256(reinterpret_cast<V*>(sc), c);
  _mm256_store_si256(reinterpret_cast<V*>(sd), d);
  for (size_t l = 0; l < n; ++l)
    states[l] = {sa[l], sb[l], sc[l], sd[l]};
}

}  // namespace swiftness::core::detail
