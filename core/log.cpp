#include "core/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

namespace swiftness::core {

std::shared_ptr<spdlog::logger> logger(const std::string& layer) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  if (auto l = spdlog::get(layer)) return l;
  auto l = spdlog::stderr_color_mt(layer);
  l->set_level(spdlog::default_logger()->level());
  return l;
}

void set_log_level(std::string_view level) {
  auto lvl = spdlog::level::from_str(std::string(level));
  spdlog::set_level(lvl);
  spdlog::apply_all([lvl](const std::shared_ptr<spdlog::logger>& l) { l->set_level(lvl); });
}

bool RateLimit::allow(uint64_t& suppressed) {
  auto now = std::chrono::steady_clock::now();
  if (now - window_start_ >= period_) {
    window_start_ = now;
    in_window_ = 0;
  }
  if (in_window_ >= burst_) {
    ++dropped_;
    return false;
  }
  ++in_window_;
  suppressed = dropped_;
  dropped_ = 0;
  return true;
}

}  // namespace swiftness::core
