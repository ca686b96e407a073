// HTTPS: the real Swift (fixture swift_aio) behind stunnel4 on 127.0.0.1, with a CA, a server
// certificate for "localhost" and an unrelated CA all made here with the openssl CLI. stunnel
// serves the localhost certificate only to clients that send SNI "localhost" (a name-based slave
// service) and a certificate for "default.invalid" otherwise, so success proves SNI is sent.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "swift/swift_store.hpp"
#include "tests/integration/swift/private_swift.hpp"
#include "tests/integration/swift/swift_aio_env.hpp"
#include "tests/integration/swift/test_support.hpp"

extern char** environ;

namespace swiftness {
namespace {

using core::object_errc;

class Tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = testing::swift_aio_env();
    if (!env_) return;
    dir_ = testing::make_temp_dir("swiftness-tls");
    const std::string d = dir_;
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
    const std::string cmds =
        "cd " + d + " && exec >openssl.log 2>&1 && " + "openssl req -x509" + ec +
        "-keyout ca.key -out ca.crt -days 2 -subj /CN=SwiftnessTestCA && " + "openssl req -x509" +
        ec + "-keyout wrong.key -out wrong-ca.crt -days 2 -subj /CN=OtherCA && " + "openssl req" +
        ec + "-keyout server.key -out server.csr -subj /CN=localhost && " +
        "printf 'subjectAltName=DNS:localhost\\nextendedKeyUsage=serverAuth\\n' >server.ext && " +
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial " +
        "-out server.crt -days 2 -extfile server.ext && " + "openssl req" + ec +
        "-keyout default.key -out default.csr -subj /CN=default.invalid && " +
        "printf 'subjectAltName=DNS:default.invalid\\n' >default.ext && " +
        "openssl x509 -req -in default.csr -CA ca.crt -CAkey ca.key -CAcreateserial " +
        "-out default.crt -days 2 -extfile default.ext";
    if (std::system(cmds.c_str()) != 0) {
      setup_error_ = "openssl failed, see " + d + "/openssl.log";
      return;
    }
    port_ = testing::free_port_base(1);
    const std::string backend = "127.0.0.1:" + std::to_string(env_->port);
    std::ofstream(d + "/stunnel.conf")
        << "foreground = yes\npid =\noutput = " << d << "/stunnel.log\ndebug = 4\n"
        << "[tls]\naccept = 127.0.0.1:" << port_ << "\nconnect = " << backend << "\ncert = " << d
        << "/default.crt\nkey = " << d << "/default.key\n"
        << "[swift]\nsni = tls:localhost\nconnect = " << backend << "\ncert = " << d
        << "/server.crt\nkey = " << d << "/server.key\n";
    const std::string conf = d + "/stunnel.conf";
    char* argv[] = {const_cast<char*>("stunnel4"), const_cast<char*>(conf.c_str()), nullptr};
    if (posix_spawnp(&stunnel_pid_, "stunnel4", nullptr, nullptr, argv, environ) != 0) {
      setup_error_ = "cannot run stunnel4 (Debian package stunnel4)";
      return;
    }
    // Ready when the port accepts connections.
    boost::asio::io_context ctx;
    for (int i = 0; i < 100; ++i) {
      boost::asio::ip::tcp::socket s(ctx);
      boost::system::error_code e;
      s.connect({boost::asio::ip::make_address("127.0.0.1"), port_}, e);
      if (!e) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    setup_error_ = "stunnel did not listen, see " + d + "/stunnel.log";
  }

  static void TearDownTestSuite() {
    if (stunnel_pid_ > 0) {
      ::kill(stunnel_pid_, SIGTERM);
      ::waitpid(stunnel_pid_, nullptr, 0);
      stunnel_pid_ = 0;
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  void SetUp() override {
    if (!env_) GTEST_SKIP() << "no Swift: run under ctest (fixture swift_aio)";
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  }

  // Auth and storage both through the terminator; the proxy behind it only sees plain HTTP, so
  // the storage URL it returns is overridden (as swiftclient's --os-storage-url).
  swift::SwiftConfig config(const std::string& host, const std::string& ca) {
    auto c = testing::swift_config(*env_);
    const std::string base = "https://" + host + ":" + std::to_string(port_);
    c.auth_url = base + "/auth/v1.0";
    c.storage_url = base + "/v1/AUTH_test";
    c.ca_file = ca.empty() ? "" : dir_ + "/" + ca;
    c.request_timeout = std::chrono::seconds(10);
    return c;
  }

  template <class T>
  T run(boost::asio::awaitable<T> a) {
    return testing::run_sync(ctx_, std::move(a));
  }

  boost::asio::io_context ctx_;
  static inline std::optional<testing::SwiftAioEnv> env_;
  static inline std::string dir_;
  static inline std::string setup_error_;
  static inline uint16_t port_ = 0;
  static inline pid_t stunnel_pid_ = 0;
};

TEST_F(Tls, RightCaAndHostNameWork) {
  swift::SwiftStore s(ctx_.get_executor(), config("localhost", "ca.crt"));
  const auto c = testing::unique_name("tls");
  auto r = run(s.create_container(c));
  ASSERT_TRUE(r) << r.error().message();
  const auto body = testing::random_bytes(3 << 20, 21);
  ASSERT_TRUE(run(s.put({c, "over-tls"}, body)));
  auto g = run(s.get({c, "over-tls"}));
  ASSERT_TRUE(g) << g.error().message();
  EXPECT_TRUE(g->body == body);
  ASSERT_TRUE(run(s.remove({c, "over-tls"})));
  ASSERT_TRUE(run(s.delete_container(c)));
  EXPECT_EQ(s.stats().connections_opened, 1u);  // one TLS session, kept alive
}

TEST_F(Tls, WrongCaIsATlsError) {
  swift::SwiftStore s(ctx_.get_executor(), config("localhost", "wrong-ca.crt"));
  auto r = run(s.authenticate());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), object_errc::tls_error);
  EXPECT_EQ(s.stats().requests, 1u);  // not retried: a certificate does not get better
}

TEST_F(Tls, SystemCasDoNotTrustTheTestCa) {
  swift::SwiftStore s(ctx_.get_executor(), config("localhost", ""));
  auto r = run(s.authenticate());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), object_errc::tls_error);
}

TEST_F(Tls, WrongHostNameIsATlsError) {
  // 127.0.0.1 is not in the certificate (DNS:localhost only), and an address sends no SNI.
  swift::SwiftStore s(ctx_.get_executor(), config("127.0.0.1", "ca.crt"));
  auto r = run(s.authenticate());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), object_errc::tls_error);
}

TEST_F(Tls, VerificationCanBeTurnedOffExplicitly) {
  auto cfg = config("127.0.0.1", "wrong-ca.crt");
  cfg.verify_tls = false;
  swift::SwiftStore s(ctx_.get_executor(), cfg);
  auto r = run(s.authenticate());
  ASSERT_TRUE(r) << r.error().message();
}

}  // namespace
}  // namespace swiftness
