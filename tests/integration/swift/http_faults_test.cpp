// SwiftStore against a scripted HTTP server on 127.0.0.1 (fault_server.hpp): the failures a real
// Swift will not produce on demand. Each test checks the outcome the caller sees and what went over
// the wire (how many requests, when, on how many connections).
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <thread>

#include "swift/md5.hpp"
#include "swift/swift_store.hpp"
#include "tests/integration/swift/fault_server.hpp"
#include "tests/integration/swift/test_support.hpp"

namespace swiftness {
namespace {

using core::object_errc;
using Mode = testing::FaultReply::Mode;
using std::chrono::milliseconds;
using testing::FaultReply;
using testing::FaultRequest;
using testing::FaultServer;

const std::string kBody = "0123456789abcdefghijklmnopqrstuvwxyz";

std::string md5(const std::string& s) {
  return swift::Md5::hex_of(std::as_bytes(std::span(s)));
}

FaultReply ok_object() {
  return {200, {{"ETag", md5(kBody)}}, kBody};
}

class HttpFaults : public ::testing::Test {
 protected:
  // A store that talks to `server` with a pre-set token (no auth round trip).
  swift::SwiftConfig config(const FaultServer& server) {
    swift::SwiftConfig c;
    c.storage_url = server.url("/v1/AUTH_test");
    c.preauth_token = "AUTH_tk_preset";
    c.request_timeout = milliseconds(2000);
    c.retry = {
        .max_attempts = 4, .initial_backoff = milliseconds(20), .max_backoff = milliseconds(200)};
    return c;
  }

  template <class T>
  T run(boost::asio::awaitable<T> a) {
    return testing::run_sync(ctx_, std::move(a));
  }

  boost::asio::io_context ctx_;
};

TEST_F(HttpFaults, ServiceUnavailableTwiceThenSuccess) {
  std::atomic<int> n{0};
  FaultServer server([&](const FaultRequest&) {
    return n++ < 2 ? FaultReply{503, {}, "busy"} : ok_object();
  });
  swift::SwiftStore store(ctx_.get_executor(), config(server));
  auto r = run(store.get({"c", "o"}));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(r->body.data()), r->body.size()), kBody);
  EXPECT_EQ(server.requests().size(), 3u);
  EXPECT_EQ(store.stats().retries, 2u);
}

TEST_F(HttpFaults, GivesUpAfterTheCapWithTheHttpStatus) {
  FaultServer server([](const FaultRequest&) { return FaultReply{507, {}, ""}; });
  auto cfg = config(server);
  cfg.retry.max_attempts = 3;
  swift::SwiftStore store(ctx_.get_executor(), cfg);
  auto r = run(store.head({"c", "o"}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), object_errc::insufficient_storage);
  EXPECT_EQ(core::http_status(r.error()), 507);
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST_F(HttpFaults, RateLimitedRepliesAreRetriedAfterABackoff) {
  std::atomic<int> n{0};
  FaultServer server([&](const FaultRequest&) {
    switch (n++) {
      case 0:
        return FaultReply{429, {}, ""};
      case 1:
        return FaultReply{498, {}, "Slow down"};
      case 2:
        return FaultReply{429, {{"Retry-After", "1"}}, ""};
      default:
        return ok_object();
    }
  });
  auto cfg = config(server);
  cfg.retry = {
      .max_attempts = 5, .initial_backoff = milliseconds(100), .max_backoff = milliseconds(1500)};
  swift::SwiftStore store(ctx_.get_executor(), cfg);
  auto r = run(store.get({"c", "o"}));
  ASSERT_TRUE(r) << r.error().message();
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 4u);
  // Waits are at least half the doubled backoff (equal jitter), and Retry-After is honoured.
  EXPECT_GE(reqs[1].at - reqs[0].at, milliseconds(50));
  EXPECT_GE(reqs[2].at - reqs[1].at, milliseconds(100));
  EXPECT_GE(reqs[3].at - reqs[2].at, milliseconds(1000));
  EXPECT_LT(reqs[3].at - reqs[2].at, milliseconds(1600));
}

TEST_F(HttpFaults, CreateOnlyPutIsNeverReplayed) {
  FaultServer server([](const FaultRequest&) { return FaultReply{503, {}, ""}; });
  swift::SwiftStore store(ctx_.get_executor(), config(server));
  core::PutOptions opts;
  opts.if_none_match = true;
  auto body = testing::bytes_of("lease");
  auto r = run(store.put({"c", "lease"}, body, opts));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), object_errc::service_unavailable);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST_F(HttpFaults, ConnectionResetMidBodyIsRetriedOnAFreshConnection) {
  std::atomic<int> n{0};
  FaultServer server([&](const FaultRequest&) {
    auto reply = ok_object();
    if (n++ == 0) reply.mode = Mode::reset_mid_body;
    return reply;
  });
  swift::SwiftStore store(ctx_.get_executor(), config(server));
  auto r = run(store.get({"c", "o"}));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(server.connections_accepted(), 2);
}

TEST_F(HttpFaults, ConnectionResetWithoutRetriesIsConnectionFailed) {
  FaultServer server([](const FaultRequest&) {
    auto reply = ok_object();
    reply.mode = Mode::reset_mid_body;
    return reply;
  });
  auto cfg = config(server);
  cfg.retry.max_attempts = 1;
  swift::SwiftStore store(ctx_.get_executor(), cfg);
  auto r = run(store.get({"c", "o"}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), object_errc::connection_failed);
  EXPECT_EQ(core::http_status(r.error()), 0);
}

TEST_F(HttpFaults, TruncatedBodyIsDetected) {
  FaultServer server([](const FaultRequest&) {
    auto reply = ok_object();
    reply.mode = Mode::truncate_body;
    return reply;
  });
  auto cfg = config(server);
  cfg.retry.max_attempts = 2;
  swift::SwiftStore store(ctx_.get_executor(), cfg);
  auto r = run(store.get({"c", "o"}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), object_errc::connection_failed);
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST_F(HttpFaults, StallPastTheDeadlineTimesOut) {
  FaultServer server([](const FaultRequest&) {
    return FaultReply{200, {}, "", Mode::stall, milliseconds(2000)};
  });
  auto cfg = config(server);
  cfg.request_timeout = milliseconds(300);
  cfg.retry.max_attempts = 1;
  swift::SwiftStore store(ctx_.get_executor(), cfg);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run(store.get({"c", "o"}));
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), object_errc::timeout);
  EXPECT_GE(elapsed, milliseconds(250));
  EXPECT_LT(elapsed, milliseconds(1500));
}

TEST_F(HttpFaults, WrongEtagOnGetIsAChecksumMismatch) {
  FaultServer server([](const FaultRequest&) {
    return FaultReply{200, {{"ETag", md5("something else")}}, kBody};
  });
  auto cfg = config(server);
  cfg.retry.max_attempts = 2;
  swift::SwiftStore store(ctx_.get_executor(), cfg);
  auto r = run(store.get({"c", "o"}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), object_errc::checksum_mismatch);
  EXPECT_EQ(server.requests().size(), 2u);  // retried once: corruption in transit is transient
}

TEST_F(HttpFaults, GetWithoutEtagCheckSkipsTheMd5ButNotTheLength) {
  // The cache checks CRC32C over every byte itself and turns the MD5 pass off; a body shorter
  // than its Content-Length must still fail.
  std::atomic<bool> truncate{false};
  FaultServer server([&](const FaultRequest&) {
    auto reply = FaultReply{200, {{"ETag", md5("something else")}}, kBody};
    if (truncate) reply.mode = Mode::truncate_body;
    return reply;
  });
  auto cfg = config(server);
  cfg.retry.max_attempts = 1;
  swift::SwiftStore store(ctx_.get_executor(), cfg);
  core::GetOptions opts;
  opts.verify_etag = false;
  auto r = run(store.get({"c", "o"}, opts));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(r->body.data()), r->body.size()), kBody);
  truncate = true;
  auto cut = run(store.get({"c", "o"}, opts));
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error(), object_errc::connection_failed);
}

TEST_F(HttpFaults, PutSendsMd5EtagMetadataAndExpiry) {
  FaultServer server([](const FaultRequest& r) {
    return FaultReply{201, {{"ETag", md5(r.body)}, {"Last-Modified", "Sun, 22 Nov 2026"}}, ""};
  });
  swift::SwiftStore store(ctx_.get_executor(), config(server));
  core::PutOptions opts;
  opts.metadata = {{"lun", "7"}};
  opts.delete_after = 30;
  auto body = testing::bytes_of(kBody);
  auto r = run(store.put({"my container", "lun0/0001 x"}, body, opts));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->etag, md5(kBody));
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "PUT");
  EXPECT_EQ(reqs[0].target, "/v1/AUTH_test/my%20container/lun0/0001%20x");
  EXPECT_EQ(reqs[0].header("etag"), md5(kBody));
  EXPECT_EQ(reqs[0].header("x-auth-token"), "AUTH_tk_preset");
  EXPECT_EQ(reqs[0].header("x-object-meta-lun"), "7");
  EXPECT_EQ(reqs[0].header("x-delete-after"), "30");
  EXPECT_EQ(reqs[0].body, kBody);
}

TEST_F(HttpFaults, ConnectionsAreKeptAliveAndReused) {
  FaultServer server([](const FaultRequest&) { return ok_object(); });
  swift::SwiftStore store(ctx_.get_executor(), config(server));
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(run(store.get({"c", "o"})));
  EXPECT_EQ(server.connections_accepted(), 1);
  EXPECT_EQ(store.stats().connections_opened, 1u);
}

TEST_F(HttpFaults, PoolNeverExceedsItsMaximumPerEndpoint) {
  FaultServer server([](const FaultRequest&) {
    auto reply = ok_object();
    reply.delay = milliseconds(100);
    return reply;
  });
  auto cfg = config(server);
  cfg.max_connections_per_endpoint = 2;
  swift::SwiftStore store(ctx_.get_executor(), cfg);
  int done = 0;
  for (int i = 0; i < 6; ++i) {
    boost::asio::co_spawn(
        ctx_,
        [&]() -> boost::asio::awaitable<void> {
          // (a named key: GCC 12 mishandles brace temporaries inside co_await expressions)
          const core::ObjectKey key{"c", "o"};
          auto r = co_await store.get(key);
          EXPECT_TRUE(r);
          ++done;
        },
        boost::asio::detached);
  }
  ctx_.run();
  EXPECT_EQ(done, 6);
  EXPECT_EQ(server.requests().size(), 6u);
  EXPECT_LE(server.max_concurrent_connections(), 2);
  EXPECT_EQ(store.stats().connections_opened, 2u);
}

// Issue 8: on a slow Swift, uploads (flush_concurrency per LUN) held every pooled connection and
// a cold read queued behind all of them, past the initiator's patience. Writes may now hold at
// most max - max/4 connections and reads are served first, so the GET here is answered while
// eight slow PUTs still wait their turn, and the pool still never exceeds its maximum.
TEST_F(HttpFaults, AReadNeverQueuesBehindAPoolFullOfSlowUploads) {
  FaultServer server([](const FaultRequest& r) {
    if (r.method == "PUT") {
      FaultReply reply{201, {{"ETag", md5(r.body)}}, ""};
      reply.delay = milliseconds(1000);
      return reply;
    }
    return ok_object();
  });
  auto cfg = config(server);
  cfg.max_connections_per_endpoint = 4;
  cfg.request_timeout = milliseconds(10000);
  swift::SwiftStore store(ctx_.get_executor(), cfg);
  const auto body = testing::bytes_of(kBody);
  int puts = 0;
  for (int i = 0; i < 8; ++i) {
    boost::asio::co_spawn(
        ctx_,
        [&, i]() -> boost::asio::awaitable<void> {
          const core::ObjectKey key{"c", "p" + std::to_string(i)};
          const core::PutOptions opts;
          auto r = co_await store.put(key, body, opts);
          EXPECT_TRUE(r);
          ++puts;
        },
        boost::asio::detached);
  }
  std::chrono::steady_clock::duration get_took{};
  int puts_done_at_get = -1;
  boost::asio::co_spawn(
      ctx_,
      [&]() -> boost::asio::awaitable<void> {
        boost::asio::steady_timer t(ctx_);
        t.expires_after(milliseconds(200));  // the PUTs hold their connections by now
        co_await t.async_wait(boost::asio::use_awaitable);
        const core::ObjectKey key{"c", "o"};
        const core::GetOptions opts;
        const auto t0 = std::chrono::steady_clock::now();
        auto r = co_await store.get(key, opts);
        get_took = std::chrono::steady_clock::now() - t0;
        puts_done_at_get = puts;
        EXPECT_TRUE(r);
      },
      boost::asio::detached);
  ctx_.run();
  EXPECT_EQ(puts, 8);
  EXPECT_EQ(puts_done_at_get, 0);  // it did not wait for any upload
  EXPECT_LT(get_took, milliseconds(500));
  EXPECT_LE(server.max_concurrent_connections(), 4);
}

TEST_F(HttpFaults, SharedByCallersOnSeveralThreads) {
  std::atomic<int> n{0};
  FaultServer server([&](const FaultRequest& r) {
    // Every fifth request fails once, so retries interleave with other callers' requests.
    if (n++ % 5 == 0) return FaultReply{503, {}, ""};
    if (r.method == "PUT") return FaultReply{201, {{"ETag", md5(r.body)}}, ""};
    return ok_object();
  });
  auto cfg = config(server);
  cfg.max_connections_per_endpoint = 3;
  swift::SwiftStore store(ctx_.get_executor(), cfg);
  std::atomic<int> ok{0};
  const auto body = testing::bytes_of(kBody);
  for (int i = 0; i < 24; ++i) {
    boost::asio::co_spawn(
        ctx_,
        [&, i]() -> boost::asio::awaitable<void> {
          const core::ObjectKey key{"c", "o" + std::to_string(i)};
          const core::PutOptions put_opts;
          const core::GetOptions get_opts;
          auto p = co_await store.put(key, body, put_opts);
          auto g = co_await store.get(key, get_opts);
          if (p && g && g->body == body) ++ok;
        },
        boost::asio::detached);
  }
  std::thread other([&] { ctx_.run(); });
  ctx_.run();
  other.join();
  EXPECT_EQ(ok.load(), 24);
  EXPECT_LE(server.max_concurrent_connections(), 3);
  EXPECT_GT(store.stats().retries, 0u);
}

TEST_F(HttpFaults, UnauthorizedReauthenticatesOnceAndReplays) {
  std::atomic<int> auths{0};
  std::atomic<bool> revoked{false};
  FaultServer* self = nullptr;
  FaultServer server([&](const FaultRequest& r) {
    if (r.target == "/auth/v1.0") {
      if (r.header("x-auth-user") != "test:tester" || r.header("x-auth-key") != "testing") {
        return FaultReply{401, {}, ""};
      }
      const std::string token = "AUTH_tk" + std::to_string(++auths);
      return FaultReply{
          200, {{"X-Auth-Token", token}, {"X-Storage-Url", self->url("/v1/AUTH_test")}}, ""};
    }
    return r.header("x-auth-token") == "AUTH_tk2" && !revoked ? ok_object()
                                                              : FaultReply{401, {}, ""};
  });
  self = &server;
  swift::SwiftConfig cfg;
  cfg.auth_url = server.url("/auth/v1.0");
  cfg.user = "test:tester";
  cfg.key = "testing";
  swift::SwiftStore store(ctx_.get_executor(), cfg);
  auto r = run(store.get({"c", "o"}));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(auths.load(), 2);
  EXPECT_EQ(store.stats().reauths, 1u);
  // Every token refused: one re-authentication, then the second 401 is final.
  revoked = true;
  auto again = run(store.get({"c", "o"}));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), object_errc::unauthorized);
  EXPECT_EQ(auths.load(), 3);
  EXPECT_EQ(store.stats().reauths, 2u);
}

TEST_F(HttpFaults, BadCredentialsAreAuthFailed) {
  FaultServer server([](const FaultRequest&) { return FaultReply{401, {}, ""}; });
  swift::SwiftConfig cfg;
  cfg.auth_url = server.url("/auth/v1.0");
  cfg.user = "test:tester";
  cfg.key = "wrong";
  swift::SwiftStore store(ctx_.get_executor(), cfg);
  auto r = run(store.head({"c", "o"}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), object_errc::auth_failed);
}

// Keystone v3's request and response shapes (the real Keystone test is keystone_test.cpp).
TEST_F(HttpFaults, KeystoneV3PasswordAuthUsesTheCatalogEndpoint) {
  FaultServer* self = nullptr;
  FaultServer server([&](const FaultRequest& r) {
    if (r.method == "POST" && r.target == "/v3/auth/tokens") {
      const std::string catalog =
          R"({"token": {"catalog": [{"type": "object-store", "endpoints": [
            {"interface": "admin", "region_id": "RegionOne", "url": "http://192.0.2.1/v1/X"},
            {"interface": "public", "region_id": "RegionOne", "url": ")" +
          self->url("/v1/AUTH_proj") + R"("}]}]}})";
      return FaultReply{201, {{"X-Subject-Token", "gAAAA-v3-token"}}, catalog};
    }
    return r.header("x-auth-token") == "gAAAA-v3-token" && r.target == "/v1/AUTH_proj/c/o"
               ? ok_object()
               : FaultReply{401, {}, ""};
  });
  self = &server;
  swift::SwiftConfig cfg;
  cfg.auth_version = swift::AuthVersion::v3;
  cfg.auth_url = server.url("/v3");
  cfg.user = "swiftness";
  cfg.key = "pw";
  cfg.project = "blocks";
  cfg.region = "RegionOne";
  swift::SwiftStore store(ctx_.get_executor(), cfg);
  auto r = run(store.get({"c", "o"}));
  ASSERT_TRUE(r) << r.error().message();
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].header("content-type"), "application/json");
  auto body = boost::json::parse(reqs[0].body);
  EXPECT_EQ(body.at("auth").at("scope").at("project").at("name").as_string(), "blocks");
  EXPECT_EQ(body.at("auth").at("identity").at("password").at("user").at("name").as_string(),
            "swiftness");
}

}  // namespace
}  // namespace swiftness
