// swiftness: an iSCSI target whose LUNs live in OpenStack Swift.
#include <malloc.h>

#include <boost/program_options.hpp>
#include <iostream>

#include "target/cli.hpp"
#include "target/serve.hpp"

namespace po = boost::program_options;

namespace {

constexpr const char* kUsage =
    "usage: swiftness <command> [options]\n"
    "commands:\n"
    "  serve --config FILE [--ready-file FILE] [--threads N]   run the target\n"
    "  check-config FILE                                       validate a configuration\n"
    "  lun list | create | import | export | resize            LUNs (see: swiftness lun)\n"
    "  cache status | drain [LUN]                              the write-back cache\n"
    "  version                                                 print the version\n";

int usage_error(const std::string& msg) {
  std::cerr << "swiftness: " << msg << "\n" << kUsage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Every command's data buffer is EDTL bytes (up to MaxBurstLength and more) from malloc. With
  // glibc's defaults, buffers of 1 MiB come from fresh mmap()s or a heap that is trimmed on
  // free, so the kernel faults in and zeroes their pages again for every command: 40-126 minor
  // faults per 1 MiB WRITE, 10-40 % of the daemon's CPU on sequential I/O. Serving them from the
  // heap and never trimming it keeps the pages: memory stays at the peak of buffers in flight,
  // which the command window and the burst lengths bound.
  ::mallopt(M_MMAP_THRESHOLD, 64 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 512 << 20);
  if (argc < 2) return usage_error("no command given");
  std::string cmd = argv[1];
  std::vector<std::string> rest(argv + 2, argv + argc);
  try {
    if (cmd == "serve") {
      swiftness::target::ServeOptions o;
      po::options_description desc("serve");
      desc.add_options()("config,c", po::value(&o.config_path)->required(), "YAML configuration")(
          "ready-file", po::value(&o.ready_file), "write bound ports here when listening")(
          "threads", po::value(&o.io_threads), "I/O threads (default: one per core)");
      po::variables_map vm;
      po::store(po::command_line_parser(rest).options(desc).run(), vm);
      po::notify(vm);
      return swiftness::target::serve(o);
    }
    if (cmd == "check-config") {
      if (rest.size() != 1) return usage_error("check-config takes one FILE");
      return swiftness::target::check_config(rest[0]);
    }
    if (cmd == "lun" || cmd == "cache") return swiftness::target::run_cli(cmd, rest);
    if (cmd == "version" || cmd == "--version") {
      std::cout << "swiftness 0.1.0\n";
      return 0;
    }
    if (cmd == "help" || cmd == "--help" || cmd == "-h") {
      std::cout << kUsage;
      return 0;
    }
  } catch (const po::error& e) {
    return usage_error(e.what());
  }
  return usage_error("unknown command '" + cmd + "'");
}
