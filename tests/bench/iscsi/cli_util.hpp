#pragma once
// Small parsers shared by the tools' command lines. They return std::nullopt on bad input so the
// caller can print one clear line naming the option.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace swiftness::bench {

// "4096", "4k", "4K", "4KiB", "1m", "1MiB", "2g": binary multiples (k = 1024).
std::optional<uint64_t> parse_size(std::string_view text);

// "4k,1m" -> {4096, 1048576}. Empty items or a bad size give nullopt.
std::optional<std::vector<uint64_t>> parse_size_list(std::string_view text);

struct LbaRange {
  uint64_t lba = 0;
  uint64_t blocks = 0;
};

// "LBA:COUNT" in blocks, e.g. "0:131072". COUNT must be > 0.
std::optional<LbaRange> parse_range(std::string_view text);

// "4096" -> "4 KiB", "1048576" -> "1 MiB", otherwise bytes.
std::string size_name(uint64_t bytes);

}  // namespace swiftness::bench
