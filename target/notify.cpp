#include "target/notify.hpp"

#include <systemd/sd-daemon.h>

#include <cstring>

#include "core/log.hpp"

namespace swiftness::target {

bool notify_service_manager(const std::string& state) {
  // libsystemd's sd_notify: handles abstract and path sockets and credentials; returns 0 when
  // $NOTIFY_SOCKET is unset.
  int r = sd_notify(0, state.c_str());
  if (r < 0) {
    core::logger("main")->warn("cannot notify the service manager ({}): {}", state.substr(0, 12),
                               std::strerror(-r));
    return false;
  }
  return true;
}

}  // namespace swiftness::target
