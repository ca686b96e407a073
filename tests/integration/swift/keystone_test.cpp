// Keystone v3 against a real Keystone (Debian `keystone`, sqlite, fernet) and a Swift that
// validates its tokens (authtoken + keystoneauth), both started by keystone_aio.sh in a private
// directory: password auth with project scope, the endpoint chosen from the catalog by service
// type, interface and region, and re-authentication after a 401.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <map>

#include "swift/swift_store.hpp"
#include "tests/integration/swift/private_swift.hpp"
#include "tests/integration/swift/test_support.hpp"

namespace swiftness {
namespace {

using core::object_errc;

class Keystone : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = testing::make_temp_dir("swiftness-keystone");
    const std::string cmd =
        std::string(SWIFTNESS_KEYSTONE_AIO_SH) + " start " + dir_ + " >" + dir_ + ".log 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      setup_error_ = "keystone_aio.sh start failed, see " + dir_ + ".log";
      return;
    }
    std::ifstream in(dir_ + "/env");
    for (std::string line; std::getline(in, line);) {
      auto eq = line.find('=');
      if (eq != std::string::npos) env_[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }

  static void TearDownTestSuite() {
    if (dir_.empty()) return;
    const std::string cmd =
        std::string(SWIFTNESS_KEYSTONE_AIO_SH) + " stop " + dir_ + " >/dev/null 2>&1";
    (void)std::system(cmd.c_str());
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    if (setup_error_.empty()) std::filesystem::remove(dir_ + ".log", ec);
  }

  void SetUp() override { ASSERT_TRUE(setup_error_.empty()) << setup_error_; }

  swift::SwiftConfig config() {
    swift::SwiftConfig c;
    c.auth_version = swift::AuthVersion::v3;
    c.auth_url = env_["KEYSTONE_URL"];
    c.user = env_["KEYSTONE_USER"];
    c.key = env_["KEYSTONE_PASSWORD"];
    c.project = env_["KEYSTONE_PROJECT"];
    c.region = "RegionOne";
    c.request_timeout = std::chrono::seconds(20);
    return c;
  }

  template <class T>
  T run(boost::asio::awaitable<T> a) {
    return testing::run_sync(ctx_, std::move(a));
  }

  boost::asio::io_context ctx_;
  static inline std::string dir_;
  static inline std::string setup_error_;
  static inline std::map<std::string, std::string> env_;
};

TEST_F(Keystone, PasswordAuthWithProjectScopeReachesSwiftThroughTheCatalog) {
  swift::SwiftStore s(ctx_.get_executor(), config());
  const auto c = testing::unique_name("v3");
  auto r = run(s.create_container(c));
  ASSERT_TRUE(r) << r.error().message();
  const auto body = testing::random_bytes(100000, 31);
  ASSERT_TRUE(run(s.put({c, "obj"}, body)));
  auto g = run(s.get({c, "obj"}));
  ASSERT_TRUE(g) << g.error().message();
  EXPECT_TRUE(g->body == body);
  ASSERT_TRUE(run(s.remove({c, "obj"})));
  ASSERT_TRUE(run(s.delete_container(c)));
  EXPECT_EQ(s.stats().authentications, 1u);
}

TEST_F(Keystone, InternalInterfaceIsSelectable) {
  auto cfg = config();
  cfg.interface = "internal";
  swift::SwiftStore s(ctx_.get_executor(), cfg);
  auto r = run(s.head_container(testing::unique_name("absent")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), object_errc::not_found);  // reached Swift, authorised, no such container
}

TEST_F(Keystone, RegionChoosesTheEndpoint) {
  // RegionTwo's object-store endpoint is a closed port: choosing it fails to connect.
  auto cfg = config();
  cfg.region = "RegionTwo";
  cfg.retry.max_attempts = 1;
  swift::SwiftStore two(ctx_.get_executor(), cfg);
  auto r = run(two.head_container("x"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), object_errc::connection_failed);

  cfg.region = "RegionNowhere";
  swift::SwiftStore none(ctx_.get_executor(), cfg);
  auto n = run(none.authenticate());
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), object_errc::auth_failed);
}

TEST_F(Keystone, WrongPasswordIsAuthFailed) {
  auto cfg = config();
  cfg.key = "wrong";
  swift::SwiftStore s(ctx_.get_executor(), cfg);
  auto r = run(s.authenticate());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), object_errc::auth_failed);
}

TEST_F(Keystone, RevokedTokenIsReplacedAfter401) {
  auto cfg = config();
  cfg.preauth_token = "gAAAAA-not-a-real-fernet-token";
  cfg.storage_url = env_["SWIFT_STORAGE_URL"];
  swift::SwiftStore s(ctx_.get_executor(), cfg);
  auto r = run(s.head_container(testing::unique_name("absent")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), object_errc::not_found);
  EXPECT_EQ(s.stats().reauths, 1u);
}

}  // namespace
}  // namespace swiftness
