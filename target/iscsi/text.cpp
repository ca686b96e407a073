#include "target/iscsi/text.hpp"

namespace swiftness::iscsi {

std::optional<std::vector<KeyValue>> parse_text(std::span<const std::byte> data) {
  std::string_view all(reinterpret_cast<const char*>(data.data()), data.size());
  std::vector<KeyValue> out;
  while (!all.empty()) {
    size_t nul = all.find('\0');
    std::string_view pair = all.substr(0, nul);
    all = nul == std::string_view::npos ? std::string_view{} : all.substr(nul + 1);
    if (pair.empty()) continue;  // tolerate stray NUL padding between pairs
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq > kMaxKeyLength) return std::nullopt;
    std::string_view value = pair.substr(eq + 1);
    if (value.size() > kMaxValueLength) return std::nullopt;
    out.emplace_back(std::string(pair.substr(0, eq)), std::string(value));
  }
  return out;
}

void append_key(std::vector<std::byte>& out, std::string_view key, std::string_view value) {
  auto put = [&out](std::string_view s) {
    for (char c : s)
      out.push_back(std::byte(c));
  };
  put(key);
  out.push_back(std::byte('='));
  put(value);
  out.push_back(std::byte(0));
}

}  // namespace swiftness::iscsi
