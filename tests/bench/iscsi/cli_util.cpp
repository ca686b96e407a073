#include "tests/bench/iscsi/cli_util.hpp"

#include <charconv>

#include <fmt/format.h>

namespace swiftness::bench {
namespace {

std::optional<uint64_t> parse_u64(std::string_view s) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<uint64_t> parse_size(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9')
    ++digits;
  auto number = parse_u64(text.substr(0, digits));
  if (!number) return std::nullopt;
  std::string_view unit = text.substr(digits);
  int shift = 0;
  if (!unit.empty()) {
    switch (unit[0]) {
      case 'k':
      case 'K':
        shift = 10;
        break;
      case 'm':
      case 'M':
        shift = 20;
        break;
      case 'g':
      case 'G':
        shift = 30;
        break;
      case 't':
      case 'T':
        shift = 40;
        break;
      default:
        return std::nullopt;
    }
    unit.remove_prefix(1);
    if (unit == "iB" || unit == "ib" || unit == "B" || unit == "b") unit = {};
    if (!unit.empty()) return std::nullopt;
  }
  if (shift > 0 && (*number >> (64 - shift)) != 0) return std::nullopt;  // overflow
  return *number << shift;
}

std::optional<std::vector<uint64_t>> parse_size_list(std::string_view text) {
  std::vector<uint64_t> out;
  while (true) {
    const size_t comma = text.find(',');
    auto size = parse_size(text.substr(0, comma));
    if (!size) return std::nullopt;
    out.push_back(*size);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

std::optional<LbaRange> parse_range(std::string_view text) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto lba = parse_u64(text.substr(0, colon));
  auto blocks = parse_u64(text.substr(colon + 1));
  if (!lba || !blocks || *blocks == 0) return std::nullopt;
  return LbaRange{*lba, *blocks};
}

std::string size_name(uint64_t bytes) {
  if (bytes != 0 && bytes % (1u << 20) == 0) return fmt::format("{} MiB", bytes >> 20);
  if (bytes != 0 && bytes % (1u << 10) == 0) return fmt::format("{} KiB", bytes >> 10);
  return fmt::format("{} B", bytes);
}

}  // namespace swiftness::bench
