#include "cache/hooks.hpp"

#include <signal.h>
#include <unistd.h>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <charconv>
#include <cstdlib>
#include <thread>

#include "core/log.hpp"

namespace swiftness::cache {

std::shared_ptr<Hooks> Hooks::from_environment() {
  auto hooks = std::make_shared<Hooks>();
  const char* env = std::getenv("SWIFTNESS_PAUSE_AT");
  if (env == nullptr) return hooks;
  std::string_view rest(env);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    const auto colon = item.rfind(':');
    unsigned ms = 0;
    const char* end = item.data() + item.size();
    const bool kill = colon != std::string_view::npos && item.substr(colon + 1) == "kill";
    if (colon == std::string_view::npos ||
        (!kill && std::from_chars(item.data() + colon + 1, end, ms).ptr != end)) {
      core::logger("cache")->error("SWIFTNESS_PAUSE_AT: '{}' is not name:milliseconds or name:kill",
                                   item);
      continue;
    }
    const std::string name(item.substr(0, colon));
    hooks->set_pause(name, kill ? std::chrono::milliseconds(-1) : std::chrono::milliseconds(ms));
    core::logger("cache")->warn("SWIFTNESS_PAUSE_AT: {} at every {} (tests only)",
                                kill ? std::string("SIGKILL") : std::to_string(ms) + " ms pause",
                                name);
  }
  return hooks;
}

std::chrono::milliseconds Hooks::pause_for(std::string_view name) {
  std::lock_guard lock(mu_);
  auto it = pauses_.find(name);
  if (it == pauses_.end()) return std::chrono::milliseconds(0);
  auto log = core::logger("cache");
  if (it->second.count() < 0) {
    log->warn("pause point {}: kill -9 of this process", name);
    log->flush();
    ::kill(::getpid(), SIGKILL);
  }
  log->warn("pause point {}: pausing {} ms", name, it->second.count());
  return it->second;
}

boost::asio::awaitable<void> Hooks::run(std::string_view name) {
  if (const auto d = pause_for(name); d.count() > 0) {
    boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
    t.expires_after(d);
    co_await t.async_wait(boost::asio::use_awaitable);
  }
  Fn fn;
  {
    std::lock_guard lock(mu_);
    auto it = fns_.find(std::string(name));
    if (it == fns_.end()) co_return;
    fn = it->second;
  }
  co_await fn();
}

void Hooks::run_blocking(std::string_view name) {
  if (const auto d = pause_for(name); d.count() > 0) std::this_thread::sleep_for(d);
}

}  // namespace swiftness::cache
