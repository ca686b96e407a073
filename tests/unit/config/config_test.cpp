#include "config/config.hpp"

#include <gtest/gtest.h>

using namespace swiftness::config;

namespace {

const char* kMinimal = R"(target:
  iqn: iqn.2026-11.io.swiftness:test
luns:
  - {id: 0, name: a, backend: file, path: /tmp/a.img, size: 64MiB}
)";

std::string all_errors(const LoadResult& r) {
  std::string s;
  for (auto& e : r.errors)
    s += e.to_string() + "\n";
  return s;
}

}  // namespace

TEST(Config, MinimalFileLunLoadsWithDefaults) {
  auto r = load_string(kMinimal, "min.yaml");
  ASSERT_TRUE(r.config) << all_errors(r);
  const Config& c = *r.config;
  EXPECT_EQ(c.target.iqn, "iqn.2026-11.io.swiftness:test");
  ASSERT_EQ(c.target.portals.size(), 1u);
  EXPECT_EQ(c.target.portals[0].address, "127.0.0.1");
  EXPECT_EQ(c.target.portals[0].port, 3260);
  ASSERT_EQ(c.luns.size(), 1u);
  EXPECT_EQ(c.luns[0].size, 64ull << 20);
  EXPECT_EQ(c.luns[0].block_size, 512u);
  EXPECT_EQ(c.luns[0].backend, Backend::file);
}

TEST(Config, ErrorsNameFileLineColumnAndKey) {
  auto r = load_string(R"(target:
  iqn: iqn.2026-11.io.swiftness:test
  portals: ["127.0.0.1"]
luns:
  - {id: 0, name: a, backend: file, path: /tmp/a.img, size: 64MiB, block_size: 1024}
  - {id: 0, name: b, backend: tape, path: /tmp/b.img, size: lots}
)",
                       "bad.yaml");
  EXPECT_FALSE(r.config);
  std::string all = all_errors(r);
  EXPECT_NE(all.find("bad.yaml:3:13: target.portals[0]: '127.0.0.1' is not address:port"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("bad.yaml:5:"), std::string::npos) << all;
  EXPECT_NE(all.find("luns[0].block_size: must be 512 or 4096"), std::string::npos) << all;
  EXPECT_NE(all.find("luns[1].id: duplicate LUN id 0"), std::string::npos) << all;
  EXPECT_NE(all.find("luns[1].backend: must be swift or file, got 'tape'"), std::string::npos)
      << all;
  EXPECT_NE(all.find("luns[1].size: not a size: 'lots'"), std::string::npos) << all;
  EXPECT_GE(r.errors.size(), 5u) << "every error at once";
}

TEST(Config, UnknownKeysAreErrors) {
  auto r = load_string(std::string(kMinimal) + "cache:\n  sise: 1GiB\n", "typo.yaml");
  EXPECT_FALSE(r.config);
  EXPECT_NE(all_errors(r).find("typo.yaml:6:3: cache.sise: unknown key"), std::string::npos)
      << all_errors(r);
}

TEST(Config, SwiftLunsNeedASwiftSection) {
  auto r = load_string(R"(target: {iqn: "iqn.2026-11.io.swiftness:test"}
luns:
  - {name: vol, size: 1GiB}
)");
  EXPECT_FALSE(r.config);
  EXPECT_NE(all_errors(r).find("swift: LUNs with backend swift need a swift section"),
            std::string::npos)
      << all_errors(r);
}

TEST(Config, ChapSecretBelowRfcMinimumIsAnErrorAboveWindowsMaximumAWarning) {
  auto r = load_string(R"(target:
  iqn: iqn.2026-11.io.swiftness:test
  chap: {user: alice, secret: short}
luns:
  - {id: 0, name: a, backend: file, path: /tmp/a.img, size: 64MiB}
)");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].to_string(),
            "<string>:3:9: target.chap.secret: is 5 bytes; RFC 7143 requires at least 12 (96 bits) "
            "without IPsec");
  auto w = load_string(R"(target:
  iqn: iqn.2026-11.io.swiftness:test
  chap: {user: alice, secret: seventeen-bytes!!}
luns:
  - {id: 0, name: a, backend: file, path: /tmp/a.img, size: 64MiB}
)");
  ASSERT_TRUE(w.config) << all_errors(w);
  ASSERT_EQ(w.warnings.size(), 1u);
  EXPECT_NE(w.warnings[0].to_string().find("Windows initiator accepts only 12 to 16"),
            std::string::npos);
  EXPECT_EQ(w.warnings[0].to_string().find("seventeen"), std::string::npos)
      << "never print a secret";
}

TEST(Config, SecretFromTheEnvironment) {
  setenv("SWIFTNESS_TEST_CHAP", "envsecret12345", 1);
  auto r = load_string(R"(target:
  iqn: iqn.2026-11.io.swiftness:test
  chap: {user: alice, secret_env: SWIFTNESS_TEST_CHAP}
luns:
  - {id: 0, name: a, backend: file, path: /tmp/a.img, size: 64MiB}
)");
  ASSERT_TRUE(r.config) << all_errors(r);
  EXPECT_EQ(r.config->target.chap->secret, "envsecret12345");
  auto missing = load_string(R"(target:
  iqn: iqn.2026-11.io.swiftness:test
  chap: {user: alice, secret_env: SWIFTNESS_TEST_NOT_SET_ANYWHERE}
luns:
  - {id: 0, name: a, backend: file, path: /tmp/a.img, size: 64MiB}
)");
  EXPECT_FALSE(missing.config);
}

TEST(Config, YamlSyntaxErrorHasAPosition) {
  auto r = load_string("target: [unclosed\n", "syntax.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].file, "syntax.yaml");
  EXPECT_GT(r.errors[0].line, 0);
}

TEST(ParseSize, BinaryAndDecimalUnits) {
  EXPECT_EQ(*parse_size("100GiB"), 100ull << 30);
  EXPECT_EQ(*parse_size("4 MiB"), 4ull << 20);
  EXPECT_EQ(*parse_size("1T"), 1ull << 40);
  EXPECT_EQ(*parse_size("2GB"), 2000000000ull);
  EXPECT_EQ(*parse_size("512"), 512u);
  EXPECT_FALSE(parse_size("1.5GiB"));
  EXPECT_FALSE(parse_size("GiB"));
  EXPECT_FALSE(parse_size("99999999999TiB"));
}

TEST(IscsiName, AcceptsIqnEuiNaaOnly) {
  EXPECT_TRUE(valid_iscsi_name("iqn.2026-11.io.swiftness:disk-1"));
  EXPECT_TRUE(valid_iscsi_name("iqn.1991-05.com.microsoft:win-host"));
  EXPECT_TRUE(valid_iscsi_name("eui.0123456789ABCDEF"));
  EXPECT_TRUE(valid_iscsi_name("naa.52004567BA64678D"));
  EXPECT_FALSE(valid_iscsi_name("iqn.26-11.io.swiftness"));
  EXPECT_FALSE(valid_iscsi_name("iqn.2026-13.io.swiftness"));
  EXPECT_FALSE(valid_iscsi_name("target0"));
  EXPECT_FALSE(valid_iscsi_name("IQN.2026-11.io.swiftness"));
}

TEST(Config, AdminEndpointDefaultsToASocketUnderTheStateDir) {
  auto r = load_string(std::string(kMinimal) + "state_dir: /tmp/st\n", "a.yaml");
  ASSERT_TRUE(r.config) << all_errors(r);
  EXPECT_EQ(r.config->admin.socket, "/tmp/st/admin.sock");
  EXPECT_EQ(r.config->admin.socket_mode, 0600u);
  EXPECT_FALSE(r.config->admin.http);
}

TEST(Config, AdminEndpointAcceptsLoopbackOnly) {
  auto ok = load_string(std::string(kMinimal) +
                            "admin: {socket: /run/s.sock, socket_mode: \"0660\", listen: "
                            "\"127.0.0.1:9324\"}\n",
                        "a.yaml");
  ASSERT_TRUE(ok.config) << all_errors(ok);
  EXPECT_EQ(ok.config->admin.socket, "/run/s.sock");
  EXPECT_EQ(ok.config->admin.socket_mode, 0660u);
  ASSERT_TRUE(ok.config->admin.http);
  EXPECT_EQ(ok.config->admin.http->address, "127.0.0.1");
  EXPECT_EQ(ok.config->admin.http->port, 9324);
  auto v6 = load_string(std::string(kMinimal) + "admin: {socket: \"\", listen: \"[::1]:0\"}\n");
  ASSERT_TRUE(v6.config) << all_errors(v6);
  EXPECT_EQ(v6.config->admin.socket, "");
  EXPECT_EQ(v6.config->admin.http->address, "::1");

  for (const char* bad :
       {"0.0.0.0:9324", "192.168.1.10:9324", "[::]:9324", "localhost:9324", "10.0.0.1:80"}) {
    auto r = load_string(std::string(kMinimal) + "admin:\n  listen: \"" + bad + "\"\n", "b.yaml");
    EXPECT_FALSE(r.config) << bad;
    EXPECT_NE(all_errors(r).find("b.yaml:6:11: admin.listen: '"), std::string::npos)
        << all_errors(r);
    EXPECT_NE(all_errors(r).find("is not a loopback address"), std::string::npos) << all_errors(r);
  }
  auto mode = load_string(std::string(kMinimal) + "admin: {socket_mode: \"0666\"}\n", "c.yaml");
  EXPECT_NE(all_errors(mode).find("admin.socket_mode: must be 0600 or 0660"), std::string::npos)
      << all_errors(mode);
  auto noport = load_string(std::string(kMinimal) + "admin: {listen: \"127.0.0.1\"}\n", "d.yaml");
  EXPECT_NE(all_errors(noport).find("is not address:port"), std::string::npos);
}

// Issue 8: how long one Swift request may take and how long a cold read waits for Swift are
// the operator's to set; out-of-range values are errors with their place in the file.
TEST(Config, SwiftTimeoutAndReadWaitLimit) {
  const std::string swift =
      "swift: {auth_url: \"http://127.0.0.1:8080/auth/v1.0\", user: "
      "\"a:b\", key: k, request_timeout_ms: 2500}\n";
  auto r = load_string(std::string(kMinimal) + swift + "cache: {read_wait_limit_s: 7}\n", "t.yaml");
  ASSERT_TRUE(r.config) << all_errors(r);
  ASSERT_TRUE(r.config->swift);
  EXPECT_EQ(r.config->swift->request_timeout_ms, 2500u);
  EXPECT_EQ(r.config->cache.read_wait_limit_s, 7u);
  auto defaults = load_string(kMinimal, "d.yaml");
  ASSERT_TRUE(defaults.config);
  EXPECT_EQ(defaults.config->cache.read_wait_limit_s, 20u);
  EXPECT_EQ(SwiftSection{}.request_timeout_ms, 30000u);

  auto bad = load_string(std::string(kMinimal) +
                             "swift: {auth_url: \"http://x/auth/v1.0\", user: \"a:b\", key: k, "
                             "request_timeout_ms: 50}\ncache: {read_wait_limit_s: 0}\n",
                         "bad.yaml");
  EXPECT_FALSE(bad.config);
  EXPECT_NE(all_errors(bad).find("swift.request_timeout_ms: must be an integer from 100 to 600000"),
            std::string::npos)
      << all_errors(bad);
  EXPECT_NE(all_errors(bad).find("cache.read_wait_limit_s: must be an integer from 1 to 3600"),
            std::string::npos)
      << all_errors(bad);
}

TEST(Config, CacheTuningKeysAreRead) {
  const std::string text = std::string(kMinimal) + R"(cache:
  fetch_concurrency: 16
  read_ahead_chunks: 0
  write_wait_limit_s: 5
  index_interval_ms: 250
  gc_grace_s: 0
  orphan_grace_s: 120
  orphan_interval_s: 0
  checkpoint_journal: 2MiB
  checkpoint_data: 8MiB
)";
  auto r = load_string(text, "tuning.yaml");
  ASSERT_TRUE(r.config) << all_errors(r);
  const CacheSection& c = r.config->cache;
  EXPECT_EQ(c.fetch_concurrency, 16u);
  EXPECT_EQ(c.read_ahead_chunks, 0u);
  EXPECT_EQ(c.write_wait_limit_s, 5u);
  EXPECT_EQ(c.index_interval_ms, 250u);
  EXPECT_EQ(c.gc_grace_s, 0u);
  EXPECT_EQ(c.orphan_grace_s, 120u);
  EXPECT_EQ(c.orphan_interval_s, 0u);
  EXPECT_EQ(c.checkpoint_journal, 2ull << 20);
  EXPECT_EQ(c.checkpoint_data, 8ull << 20);
}
