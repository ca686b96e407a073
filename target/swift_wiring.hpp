// The Swift client's settings from the configuration file (shared by serve and `lun create`).
#pragma once

#include "config/config.hpp"
#include "swift/swift_store.hpp"

namespace swiftness::target {

swift::SwiftConfig swift_config(const config::SwiftSection& s);

}  // namespace swiftness::target
