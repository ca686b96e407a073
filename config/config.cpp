// The loader's entry points (a file, a string) and the value syntaxes config.hpp exports (sizes,
// iSCSI names). The sections are read by target_sections.cpp, storage_sections.cpp and
// admin_section.cpp through the Reader of reader.hpp; what spans sections is checked here.
#include "config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <charconv>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "config/reader.hpp"

namespace swiftness::config {

std::string ConfigError::to_string() const {
  std::ostringstream os;
  os << file;
  if (line) os << ":" << line << ":" << column;
  os << ": ";
  if (!key.empty()) os << key << ": ";
  os << message;
  return os.str();
}

std::optional<uint64_t> parse_size(std::string_view t) {
  while (!t.empty() && std::isspace(uint8_t(t.front())))
    t.remove_prefix(1);
  while (!t.empty() && std::isspace(uint8_t(t.back())))
    t.remove_suffix(1);
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
  if (ec != std::errc{} || p == t.data()) return std::nullopt;
  std::string_view unit(p, size_t(t.data() + t.size() - p));
  while (!unit.empty() && unit.front() == ' ')
    unit.remove_prefix(1);
  struct U {
    std::string_view name;
    uint64_t mult;
  };
  static constexpr U kUnits[] = {{"", 1},
                                 {"B", 1},
                                 {"K", 1ull << 10},
                                 {"KiB", 1ull << 10},
                                 {"M", 1ull << 20},
                                 {"MiB", 1ull << 20},
                                 {"G", 1ull << 30},
                                 {"GiB", 1ull << 30},
                                 {"T", 1ull << 40},
                                 {"TiB", 1ull << 40},
                                 {"KB", 1000},
                                 {"MB", 1000000},
                                 {"GB", 1000000000ull},
                                 {"TB", 1000000000000ull}};
  for (const auto& u : kUnits) {
    if (unit == u.name) {
      if (n > UINT64_MAX / u.mult) return std::nullopt;
      return n * u.mult;
    }
  }
  return std::nullopt;
}

bool valid_iscsi_name(std::string_view name) {
  static const std::regex kIqn(
      R"(iqn\.[0-9]{4}-(0[1-9]|1[0-2])\.[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[a-z0-9.:_-]+)?)");
  static const std::regex kEui(R"(eui\.[0-9A-Fa-f]{16})");
  static const std::regex kNaa(R"(naa\.([0-9A-Fa-f]{16}|[0-9A-Fa-f]{32}))");
  if (name.size() > 223) return false;  // RFC 3720 §3.2.6.1
  std::string s(name);
  return std::regex_match(s, kIqn) || std::regex_match(s, kEui) || std::regex_match(s, kNaa);
}

namespace {

using detail::Reader;

LoadResult load_node(const YAML::Node& root, const std::string& name) {
  LoadResult out;
  Reader r(name, out);
  if (!root.IsMap()) {
    r.error(root, "", "the configuration must be a YAML mapping");
    return out;
  }
  r.check_keys(root, "", {"target", "swift", "cache", "luns", "admin", "state_dir", "log_level"});
  Config c;
  c.file = name;
  detail::read_target(r, root["target"], c);
  detail::read_swift(r, root["swift"], c);
  detail::read_cache(r, root["cache"], c);
  detail::read_luns(r, root["luns"], c);
  detail::read_admin(r, root["admin"], c);
  if (auto v = r.str(root, "", "state_dir")) c.state_dir = *v;
  if (c.admin.socket.empty())
    c.admin.socket = c.state_dir + "/admin.sock";
  else if (c.admin.socket == "-")
    c.admin.socket.clear();
  if (auto v = r.str(root, "", "log_level")) {
    static const std::set<std::string> kLevels{"trace", "debug", "info", "warn", "error", "off"};
    if (!kLevels.count(*v))
      r.error(root["log_level"], "log_level", "must be trace, debug, info, warn, error or off");
    c.log_level = *v;
  }
  uint64_t swift_luns = 0;
  uint64_t largest_chunk = 0;
  for (const auto& l : c.luns) {
    if (l.backend == Backend::swift) {
      ++swift_luns;
      largest_chunk = std::max(largest_chunk, l.chunk_size);
    }
  }
  if (swift_luns && !c.swift)
    r.error(root, "swift", "LUNs with backend swift need a swift section");
  // The daemon shares cache.size evenly between the Swift LUNs (one cache file each), and a
  // cache file must hold a few whole chunks to complete partial ones and keep uploading.
  if (swift_luns && c.cache.size / swift_luns < largest_chunk * 4)
    r.error(root["cache"] && root["cache"]["size"] ? root["cache"]["size"] : root, "cache.size",
            "must hold at least 4 chunks of the largest chunk_size for each of the " +
                std::to_string(swift_luns) + " Swift LUNs (at least " +
                std::to_string(largest_chunk * 4 * swift_luns) + " bytes)");
  if (out.errors.empty()) out.config = std::move(c);
  return out;
}

}  // namespace

LoadResult load_string(const std::string& yaml, const std::string& name) {
  try {
    return load_node(YAML::Load(yaml), name);
  } catch (const YAML::Exception& e) {
    LoadResult out;
    out.errors.push_back(ConfigError{name, e.mark.line + 1, e.mark.column + 1, "", e.msg});
    return out;
  }
}

LoadResult load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    LoadResult out;
    out.errors.push_back(ConfigError{path, 0, 0, "", "cannot open the file"});
    return out;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return load_string(ss.str(), path);
}

}  // namespace swiftness::config
