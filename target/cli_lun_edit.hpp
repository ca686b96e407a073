// `swiftness lun create` and `lun resize`: edit the configuration file, then have a running
// daemon apply the edit at once through the admin endpoint's POST /reload (the reload SIGHUP
// runs), and say what happened.
#pragma once

#include <string>
#include <vector>

namespace swiftness::target::cli {

int lun_create(const std::vector<std::string>& args);
int lun_resize(const std::vector<std::string>& args);

}  // namespace swiftness::target::cli
