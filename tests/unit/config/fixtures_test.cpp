// Every validation error of the configuration, one fixture file each under fixtures/, with the
// exact messages expected: the file's trailing "# error: ..." and "# warning: ..." lines list
// them in order (file:line:column: key: message, the file named without its directory). A file
// without "# error:" lines must load.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/config.hpp"

using namespace swiftness::config;
namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = SWIFTNESS_CONFIG_FIXTURES;

struct Expected {
  std::vector<std::string> errors, warnings;
};

Expected expected_of(const fs::path& file) {
  Expected e;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# error: ", 0) == 0) e.errors.push_back(line.substr(9));
    if (line.rfind("# warning: ", 0) == 0) e.warnings.push_back(line.substr(11));
  }
  return e;
}

std::vector<std::string> strings(std::vector<ConfigError> v, const std::string& name) {
  std::vector<std::string> out;
  for (auto& e : v) {
    e.file = name;
    out.push_back(e.to_string());
  }
  return out;
}

std::string joined(const std::vector<std::string>& v, const char* prefix) {
  std::string s;
  for (const auto& x : v)
    s += std::string(prefix) + x + "\n";
  return s;
}

class Fixture : public ::testing::TestWithParam<std::string> {};

TEST_P(Fixture, ReportsExactlyTheExpectedMessages) {
  const fs::path file = kFixtures / GetParam();
  Expected want = expected_of(file);
  LoadResult got = load_file(file.string());
  auto errors = strings(got.errors, file.filename().string());
  auto warnings = strings(got.warnings, file.filename().string());
  // On a mismatch, the actual lines are printed in the fixture's own syntax.
  const std::string actual = joined(errors, "# error: ") + joined(warnings, "# warning: ");
  EXPECT_EQ(errors, want.errors) << actual;
  EXPECT_EQ(warnings, want.warnings) << actual;
  EXPECT_EQ(bool(got.config), want.errors.empty()) << "a config loads exactly when error-free";
  // Secrets never appear in a message.
  for (const char* secret : {"tooshort", "sharedsecret12", "averyveryverylongsecret", "testing"})
    EXPECT_EQ(actual.find(secret), std::string::npos) << secret;
}

std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  for (const auto& f : fs::directory_iterator(kFixtures))
    if (f.path().extension() == ".yaml") names.push_back(f.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

INSTANTIATE_TEST_SUITE_P(Config, Fixture, ::testing::ValuesIn(fixture_names()),
                         [](const auto& info) {
                           std::string n = info.param.substr(0, info.param.size() - 5);
                           for (char& c : n)
                             if (!std::isalnum(uint8_t(c))) c = '_';
                           return n;
                         });

// Not a fixture: git cannot keep a file's mode, so the key file is made here.
TEST(ConfigSecrets, WorldReadableKeyFileIsRefused) {
  fs::path dir = fs::temp_directory_path() / ("swiftness-cfg-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::path key = dir / "swift.key";
  std::ofstream(key) << "s3cret-key\n";
  ::chmod(key.c_str(), 0644);
  const std::string yaml =
      "target: {iqn: iqn.2026-11.io.swiftness:t}\nswift:\n"
      "  auth_url: http://127.0.0.1:8080/auth/v1.0\n  user: a:b\n"
      "  key_file: " +
      key.string() + "\nluns:\n  - {id: 0, name: vol, size: 1GiB}\n";
  auto r = load_string(yaml, "k.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].to_string(),
            "k.yaml:5:13: swift.key_file: " + key.string() + " is world-readable; chmod o-r it");
  ::chmod(key.c_str(), 0600);
  auto ok = load_string(yaml, "k.yaml");
  ASSERT_TRUE(ok.config) << (ok.errors.empty() ? "" : ok.errors[0].to_string());
  EXPECT_EQ(ok.config->swift->key, "s3cret-key");
  fs::remove_all(dir);
}

}  // namespace
