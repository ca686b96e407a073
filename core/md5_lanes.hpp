// MD5 of several messages at once (issue 5: the drain's CPU). MD5 is the ETag of every chunk
// PUT, and one MD5 stream is bound by the latency of its dependency chain (~5 cycles/byte in
// OpenSSL's assembly, half the daemon's CPU in a drain), not by the ALUs: with the words of
// 8 independent messages in the 8 lanes of an AVX2 register, one pass of the 64 steps advances
// all of them for little more than the cost of one. No Debian 12 package offers multi-buffer
// MD5 for C/C++ (ISA-L crypto is not packaged), so the lanes are written here, from RFC 1321.
//
// Runtime dispatch: the AVX2 kernel lives in its own translation unit compiled with -mavx2, and
// runs only where the CPU has AVX2; elsewhere every lane goes through the plain kernel.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace swiftness::core {

using Md5Digest = std::array<uint8_t, 16>;

// The chaining value of one message: after md5_init(), advanced over whole 64-byte blocks.
struct Md5State {
  uint32_t a, b, c, d;
};

inline constexpr size_t kMd5Block = 64;
inline constexpr size_t kMd5MaxLanes = 8;

Md5State md5_init();
// Advances one state over `blocks` whole blocks at `data` (plain kernel).
void md5_blocks(Md5State& s, const std::byte* data, size_t blocks);
// Advances `n` (1..kMd5MaxLanes) states in lockstep, each over `blocks` whole blocks of its own
// pointer. Uses the SIMD kernel when the CPU has one and n > 1, else the plain one.
void md5_blocks_lanes(Md5State* states, const std::byte* const* data, size_t n, size_t blocks);
// Hashes the last `tail` bytes (fewer than 64) of a message of `total` bytes whose whole
// blocks `s` has already covered, and pads (RFC 1321 §3.1-3.2).
Md5Digest md5_finish(Md5State s, std::span<const std::byte> tail, uint64_t total);

// Whole messages, any lengths, any count: lockstep over the blocks all of them have (in groups
// of up to kMd5MaxLanes), then each lane its own remaining blocks, tail and padding.
void md5_many(std::span<const std::span<const std::byte>> messages, std::span<Md5Digest> out);
Md5Digest md5(std::span<const std::byte> message);

std::string md5_digest_hex(const Md5Digest& d);
// Whether md5_blocks_lanes uses a SIMD kernel here ("avx2" or "plain"), for benchmarks.
const char* md5_lanes_kernel();
// Tests and the A/B benchmark: false makes md5_blocks_lanes use the plain kernel lane by lane.
void md5_lanes_set_simd(bool enabled);

namespace detail {
// The AVX2 kernel (md5_lanes_avx2.cpp): 8 lanes, pointers of unused lanes repeat lane 0's.
void md5_blocks_avx2(Md5State* states, const std::byte* const* data, size_t n, size_t blocks);
}  // namespace detail

}  // namespace swiftness::core
