// `swiftness serve`: wires config, storage, the SCSI device server and the iSCSI server, and
// runs until SIGTERM/SIGINT.
#pragma once

#include <string>

namespace swiftness::target {

struct ServeOptions {
  std::string config_path;
  std::string ready_file;   // written with the bound portal ports once listening (for tests)
  unsigned io_threads = 0;  // 0: one per core
};

int serve(const ServeOptions& opts);
// `swiftness check-config FILE`: prints every error and warning; exit 0, or 2 on errors.
int check_config(const std::string& path);

}  // namespace swiftness::target
