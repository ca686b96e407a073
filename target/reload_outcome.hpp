// What one configuration reload did, for the log, SIGHUP's caller and the admin endpoint's
// POST /reload (which `swiftness lun create` and `lun resize` use to apply their edit at once).
#pragma once

#include <string>
#include <vector>

namespace swiftness::target {

struct ReloadOutcome {
  bool applied = false;             // false: the file was refused and nothing changed
  std::vector<std::string> errors;  // why it was refused, or why a LUN could not attach/grow
  std::vector<std::string> added, removed, grown, failed;  // LUN names
};

}  // namespace swiftness::target
