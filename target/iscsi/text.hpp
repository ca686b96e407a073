// iSCSI text key=value data segments (RFC 7143 §6.1): NUL-terminated "key=value" pairs.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace swiftness::iscsi {

using KeyValue = std::pair<std::string, std::string>;

// Splits a data segment into pairs in wire order. Returns nullopt for a malformed segment:
// a pair without '=', an empty key, or keys/values over the RFC's lengths (63 / 8192 bytes).
// A trailing piece without NUL is accepted (some initiators omit the final NUL).
std::optional<std::vector<KeyValue>> parse_text(std::span<const std::byte> data);

// Appends "key=value\0". DataSegmentLength counts the NUL and not the padding.
void append_key(std::vector<std::byte>& out, std::string_view key, std::string_view value);

inline constexpr size_t kMaxKeyLength = 63;
inline constexpr size_t kMaxValueLength = 8192;

}  // namespace swiftness::iscsi
