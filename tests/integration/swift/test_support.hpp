// Small helpers for tests of the Swift client: run one coroutine to completion, make test data,
// name things uniquely (tests run in parallel against one Swift).
#pragma once

#include <unistd.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <exception>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "swift/swift_store.hpp"
#include "tests/integration/swift/swift_aio_env.hpp"

namespace swiftness::testing {

// Runs `a` on `ctx` until it completes; rethrows what it threw.
template <class T>
T run_sync(boost::asio::io_context& ctx, boost::asio::awaitable<T> a) {
  std::optional<T> out;
  std::exception_ptr error;
  boost::asio::co_spawn(
      ctx,
      [&]() -> boost::asio::awaitable<void> {
        try {
          out.emplace(co_await std::move(a));
        } catch (...) {
          error = std::current_exception();
        }
      },
      boost::asio::detached);
  ctx.restart();
  ctx.run();
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

inline std::vector<std::byte> random_bytes(std::size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> v(n);
  for (auto& b : v)
    b = static_cast<std::byte>(rng() & 0xff);
  return v;
}

inline std::vector<std::byte> bytes_of(std::string_view s) {
  auto b = std::as_bytes(std::span(s));
  return {b.begin(), b.end()};
}

// Unique per process and call: "<prefix>-<pid>-<counter>-<time>".
inline std::string unique_name(const std::string& prefix) {
  static std::atomic<unsigned> counter{0};
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000007);
}

inline swift::SwiftConfig swift_config(const SwiftAioEnv& env) {
  swift::SwiftConfig c;
  c.auth_url = env.auth_url;
  c.user = env.user;
  c.key = env.key;
  c.request_timeout = std::chrono::seconds(20);
  return c;
}

}  // namespace swiftness::testing
