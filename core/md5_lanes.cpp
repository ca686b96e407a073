#include "core/md5_lanes.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>

namespace swiftness::core {

namespace {

// RFC 1321 §3.4: T[i] = floor(2^32 * |sin(i + 1)|), the shift of each step, and which word of
// the block each step adds.
constexpr uint32_t kT[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};
constexpr int kShift[4][4] = {{7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21}};

constexpr uint32_t rotl(uint32_t x, int s) {
  return x << s | x >> (32 - s);
}

uint32_t load_le(const std::byte* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

void store_le(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = uint8_t(v >> (8 * i));
}

std::atomic<bool> simd_enabled{true};

bool have_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
}

}  // namespace

Md5State md5_init() {
  return {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
}

void md5_blocks(Md5State& s, const std::byte* data, size_t blocks) {
  for (size_t blk = 0; blk < blocks; ++blk, data += kMd5Block) {
    uint32_t x[16];
    for (int j = 0; j < 16; ++j)
      x[j] = load_le(data + 4 * j);
    uint32_t a = s.a, b = s.b, c = s.c, d = s.d;
    for (int i = 0; i < 64; ++i) {
      uint32_t f;
      int k;
      switch (i / 16) {
        case 0:
          f = d ^ (b & (c ^ d));
          k = i;
          break;
        case 1:
          f = c ^ (d & (b ^ c));
          k = (5 * i + 1) % 16;
          break;
        case 2:
          f = b ^ c ^ d;
          k = (3 * i + 5) % 16;
          break;
        default:
          f = c ^ (b | ~d);
          k = (7 * i) % 16;
          break;
      }
      const uint32_t t = d;
      d = c;
      c = b;
      b = b + rotl(a + f + kT[i] + x[k], kShift[i / 16][i % 4]);
      a = t;
    }
    s.a += a;
    s.b += b;
    s.c += c;
    s.d += d;
  }
}

void md5_blocks_lanes(Md5State* states, const std::byte* const* data, size_t n, size_t blocks) {
  if (n > 1 && have_avx2() && simd_enabled.load(std::memory_order_relaxed)) {
    for (size_t first = 0; first < n; first += kMd5MaxLanes)
      detail::md5_blocks_avx2(states + first, data + first, std::min(kMd5MaxLanes, n - first),
                              blocks);
    return;
  }
  for (size_t l = 0; l < n; ++l)
    md5_blocks(states[l], data[l], blocks);
}

Md5Digest md5_finish(Md5State s, std::span<const std::byte> tail, uint64_t total) {
  // The tail, 0x80, zeros up to 56 mod 64, then the length in bits, little-endian: one block,
  // or two when the tail leaves fewer than 9 bytes for 0x80 and the length.
  std::byte pad[2 * kMd5Block] = {};
  if (!tail.empty()) std::memcpy(pad, tail.data(), tail.size());  // an empty span may be null
  pad[tail.size()] = std::byte{0x80};
  const size_t len = tail.size() + 9 <= kMd5Block ? kMd5Block : 2 * kMd5Block;
  const uint64_t bits = total * 8;
  for (int i = 0; i < 8; ++i)
    pad[len - 8 + i] = std::byte(uint8_t(bits >> (8 * i)));
  md5_blocks(s, pad, len / kMd5Block);
  Md5Digest out;
  store_le(out.data(), s.a);
  store_le(out.data() + 4, s.b);
  store_le(out.data() + 8, s.c);
  store_le(out.data() + 12, s.d);
  return out;
}

void md5_many(std::span<const std::span<const std::byte>> messages, std::span<Md5Digest> out) {
  for (size_t first = 0; first < messages.size(); first += kMd5MaxLanes) {
    const size_t n = std::min(kMd5MaxLanes, messages.size() - first);
    const auto group = messages.subspan(first, n);
    Md5State states[kMd5MaxLanes];
    const std::byte* ptrs[kMd5MaxLanes];
    size_t common = SIZE_MAX;
    for (size_t l = 0; l < n; ++l) {
      states[l] = md5_init();
      ptrs[l] = group[l].data();
      common = std::min(common, group[l].size() / kMd5Block);
    }
    md5_blocks_lanes(states, ptrs, n, common);
    for (size_t l = 0; l < n; ++l) {
      const size_t whole = group[l].size() / kMd5Block;
      md5_blocks(states[l], ptrs[l] + common * kMd5Block, whole - common);
      out[first + l] = md5_finish(states[l], group[l].subspan(whole * kMd5Block), group[l].size());
    }
  }
}

Md5Digest md5(std::span<const std::byte> message) {
  Md5Digest d;
  md5_many(std::span(&message, 1), std::span(&d, 1));
  return d;
}

std::string md5_digest_hex(const Md5Digest& d) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(32);
  for (uint8_t b : d) {
    s += kHex[b >> 4];
    s += kHex[b & 15];
  }
  return s;
}

const char* md5_lanes_kernel() {
  return have_avx2() && simd_enabled.load(std::memory_order_relaxed) ? "avx2" : "plain";
}

void md5_lanes_set_simd(bool enabled) {
  simd_enabled.store(enabled, std::memory_order_relaxed);
}

}  // namespace swiftness::core
