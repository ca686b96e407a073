// CHAP with MD5 (RFC 1994, RFC 7143 §12.1.3): challenges, responses and their hex encoding.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace swiftness::iscsi {

using ChapDigest = std::array<uint8_t, 16>;

// MD5(id || secret || challenge), the CHAP response.
ChapDigest chap_response(uint8_t id, std::string_view secret,
                         const std::vector<uint8_t>& challenge);

// CHAP binary values: "0x" hex or "0b" base64 (RFC 7143 §6.1). nullopt if malformed.
std::optional<std::vector<uint8_t>> decode_binary(std::string_view v);
std::string encode_hex(const uint8_t* p, size_t n);

// `n` bytes from the OS CSPRNG (OpenSSL RAND_bytes).
std::vector<uint8_t> random_bytes(size_t n);

// Constant-time comparison, so a wrong response reveals nothing about the right one.
bool equal_secret(const uint8_t* a, const uint8_t* b, size_t n);

}  // namespace swiftness::iscsi
