// systemd readiness (Type=notify): READY=1 once the portals listen, RELOADING=1 around a SIGHUP
// reload, STOPPING=1 at shutdown. Without $NOTIFY_SOCKET (not under systemd) it does nothing.
#pragma once

#include <string>

namespace swiftness::target {

// Sends `state` ("READY=1\nSTATUS=...") to the service manager; false if it could not be sent
// (logged once). True, without sending, when not run by systemd.
bool notify_service_manager(const std::string& state);

}  // namespace swiftness::target
