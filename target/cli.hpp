// The administrator's commands (`swiftness lun ...`, `swiftness cache ...`). Commands about the
// running daemon talk only to its admin endpoint, found through --config (or --socket).
#pragma once

#include <string>
#include <vector>

namespace swiftness::target {

// `group` is "lun" or "cache"; `args` what follows it. Returns the process exit code
// (0 ok, 1 failed, 2 usage or configuration error).
int run_cli(const std::string& group, const std::vector<std::string>& args);

}  // namespace swiftness::target
