// The YAML walker the section readers share: typed look-ups that remember where each value came
// from (file:line:col) and collect every problem instead of stopping at the first. Internal to
// the loader; config.hpp is the interface.
#pragma once

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace swiftness::config::detail {

// Walks the document, remembering where each value came from and collecting every problem.
class Reader {
 public:
  Reader(std::string file, LoadResult& out) : file_(std::move(file)), out_(out) {}

  void error(const YAML::Node& n, const std::string& key, const std::string& msg) {
    add(out_.errors, n, key, msg);
  }
  void warn(const YAML::Node& n, const std::string& key, const std::string& msg) {
    add(out_.warnings, n, key, msg);
  }

  // Reports keys of `map` not in `known`: a misspelt key would otherwise be silently ignored.
  void check_keys(const YAML::Node& map, const std::string& path,
                  std::initializer_list<std::string_view> known) {
    if (!map.IsMap()) return;
    for (auto it = map.begin(); it != map.end(); ++it) {
      std::string k = it->first.as<std::string>("");
      bool ok = false;
      for (auto kn : known)
        ok |= kn == k;
      if (!ok) error(it->first, join(path, k), "unknown key");
    }
  }

  bool map(const YAML::Node& n, const std::string& path) {
    if (n && !n.IsMap()) {
      error(n, path, "must be a mapping");
      return false;
    }
    return bool(n);
  }

  std::optional<std::string> str(const YAML::Node& parent, const std::string& path, const char* key,
                                 bool required = false) {
    YAML::Node n = parent[key];
    if (!n) {
      if (required) error(parent, join(path, key), "required key is missing");
      return std::nullopt;
    }
    if (!n.IsScalar()) {
      error(n, join(path, key), "must be a string");
      return std::nullopt;
    }
    return n.Scalar();
  }

  template <class T>
  std::optional<T> integer(const YAML::Node& parent, const std::string& path, const char* key, T lo,
                           T hi, bool required = false) {
    auto s = str(parent, path, key, required);
    if (!s) return std::nullopt;
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
    if (ec != std::errc{} || p != s->data() + s->size() || v < uint64_t(lo) || v > uint64_t(hi)) {
      error(parent[key], join(path, key),
            "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi) +
                ", got '" + *s + "'");
      return std::nullopt;
    }
    return T(v);
  }

  std::optional<bool> boolean(const YAML::Node& parent, const std::string& path, const char* key) {
    auto s = str(parent, path, key);
    if (!s) return std::nullopt;
    if (*s == "true" || *s == "yes" || *s == "on") return true;
    if (*s == "false" || *s == "no" || *s == "off") return false;
    error(parent[key], join(path, key), "must be true or false, got '" + *s + "'");
    return std::nullopt;
  }

  std::optional<uint64_t> size(const YAML::Node& parent, const std::string& path, const char* key,
                               bool required = false) {
    auto s = str(parent, path, key, required);
    if (!s) return std::nullopt;
    auto v = parse_size(*s);
    if (!v) error(parent[key], join(path, key), "not a size: '" + *s + "' (try 100GiB or 4MiB)");
    return v;
  }

  // A secret given inline, from a file (`<key>_file`) or an environment variable (`<key>_env`).
  std::optional<std::string> secret(const YAML::Node& parent, const std::string& path,
                                    const std::string& key, bool required) {
    int given = bool(parent[key]) + bool(parent[key + "_file"]) + bool(parent[key + "_env"]);
    if (given > 1) {
      error(parent, join(path, key),
            "give only one of " + key + ", " + key + "_file, " + key + "_env");
      return std::nullopt;
    }
    if (parent[key]) return str(parent, path, key.c_str());
    if (parent[key + "_env"]) {
      auto var = str(parent, path, (key + "_env").c_str());
      if (!var) return std::nullopt;
      const char* v = std::getenv(var->c_str());
      if (!v) {
        error(parent[key + "_env"], join(path, key + "_env"),
              "environment variable " + *var + " is not set");
        return std::nullopt;
      }
      return std::string(v);
    }
    if (parent[key + "_file"]) {
      auto fname = str(parent, path, (key + "_file").c_str());
      if (!fname) return std::nullopt;
      struct stat st {};
      if (::stat(fname->c_str(), &st) != 0) {
        error(parent[key + "_file"], join(path, key + "_file"), "cannot read " + *fname);
        return std::nullopt;
      }
      if (st.st_mode & S_IROTH) {
        // A secret other local users can read is not a secret.
        error(parent[key + "_file"], join(path, key + "_file"),
              *fname + " is world-readable; chmod o-r it");
        return std::nullopt;
      }
      std::ifstream in(*fname);
      std::string v;
      std::getline(in, v);
      if (!in && v.empty()) {
        error(parent[key + "_file"], join(path, key + "_file"), "cannot read " + *fname);
        return std::nullopt;
      }
      return v;
    }
    if (required) error(parent, join(path, key), "required key is missing");
    return std::nullopt;
  }

  static std::string join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }

 private:
  void add(std::vector<ConfigError>& to, const YAML::Node& n, const std::string& key,
           const std::string& msg) {
    ConfigError e;
    e.file = file_;
    if (n && n.Mark().line >= 0) {
      e.line = n.Mark().line + 1;
      e.column = n.Mark().column + 1;
    }
    e.key = key;
    e.message = msg;
    to.push_back(std::move(e));
  }

  std::string file_;
  LoadResult& out_;
};

// One reader per top-level section; each fills its part of `c` and reports through `r`.
void read_target(Reader& r, const YAML::Node& t, Config& c);
void read_luns(Reader& r, const YAML::Node& t, Config& c);
void read_swift(Reader& r, const YAML::Node& t, Config& c);
void read_cache(Reader& r, const YAML::Node& t, Config& c);
void read_admin(Reader& r, const YAML::Node& t, Config& c);

}  // namespace swiftness::config::detail
