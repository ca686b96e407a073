// iscsi-rwverify: writes deterministic patterns to a LUN over iSCSI, reads them back and checks
// every byte. Exit code 0 only if every block verified. See README.md for usage.
//
// Exit codes: 0 all verified, 1 data mismatch, 2 usage error, 3 connect/login failed,
//             4 a command failed or the connection dropped.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <boost/program_options.hpp>

#include "tests/bench/iscsi/ack_log.hpp"
#include "tests/bench/iscsi/block_pattern.hpp"
#include "tests/bench/iscsi/cli_util.hpp"
#include "tests/bench/iscsi/io_plan.hpp"
#include "tests/bench/iscsi/iscsi_session.hpp"
#include "tests/bench/iscsi/rwverify_runner.hpp"

namespace po = boost::program_options;

namespace swiftness::bench {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitMismatch = 1;
constexpr int kExitUsage = 2;
constexpr int kExitConnect = 3;
constexpr int kExitCommand = 4;

struct Options {
  ConnectOptions connect;
  std::string range;
  std::string xfer = "4k,1m";
  int qd = 16;
  uint64_t seed = 1;
  bool write_only = false;
  bool verify_only = false;
  std::string cdb = "mixed";
  std::string fua = "mixed";
  bool no_sync = false;
  int max_report = 10;
  bool quiet = false;
  uint64_t passes = 1;
  uint64_t sync_every = 0;
  std::string ack_log;
};

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int run(const Options& o) {
  if (o.write_only && o.verify_only) {
    std::fprintf(stderr, "iscsi-rwverify: --write-only and --verify-only exclude each other\n");
    return kExitUsage;
  }
  if (o.qd < 1 || o.qd > 1024) {
    std::fprintf(stderr, "iscsi-rwverify: --qd must be in 1..1024\n");
    return kExitUsage;
  }
  if (o.passes != 1 && !o.write_only) {
    std::fprintf(stderr, "iscsi-rwverify: --passes needs --write-only\n");
    return kExitUsage;
  }
  CdbChoice cdb;
  if (o.cdb == "10")
    cdb = CdbChoice::k10;
  else if (o.cdb == "16")
    cdb = CdbChoice::k16;
  else if (o.cdb == "mixed")
    cdb = CdbChoice::kMixed;
  else {
    std::fprintf(stderr, "iscsi-rwverify: --cdb takes 10, 16 or mixed\n");
    return kExitUsage;
  }
  FuaChoice fua;
  if (o.fua == "never")
    fua = FuaChoice::kNever;
  else if (o.fua == "always")
    fua = FuaChoice::kAlways;
  else if (o.fua == "mixed")
    fua = FuaChoice::kMixed;
  else {
    std::fprintf(stderr, "iscsi-rwverify: --fua takes never, always or mixed\n");
    return kExitUsage;
  }
  auto sizes = parse_size_list(o.xfer);
  if (!sizes) {
    std::fprintf(stderr, "iscsi-rwverify: --xfer '%s': expected sizes like 4k,1m\n",
                 o.xfer.c_str());
    return kExitUsage;
  }
  // --verify-only --ack-log: check exactly what an earlier run logged as durable.
  std::optional<AckLog> log;
  std::string error;
  if (o.verify_only && !o.ack_log.empty()) {
    log = read_ack_log(o.ack_log, &error);
    if (!log) {
      std::fprintf(stderr, "iscsi-rwverify: %s\n", error.c_str());
      return kExitUsage;
    }
  }

  auto session = IscsiSession::connect(o.connect, &error);
  if (!session) {
    std::fprintf(stderr, "iscsi-rwverify: %s\n", error.c_str());
    return kExitConnect;
  }
  const uint32_t bs = session->block_size();
  std::vector<uint32_t> sizes_in_blocks;
  uint32_t max_blocks = 0;
  for (uint64_t size : *sizes) {
    if (size == 0 || size % bs != 0 || size / bs > 0xffff) {
      std::fprintf(stderr,
                   "iscsi-rwverify: --xfer %s is not a multiple of the block size %u (or is "
                   "more than 65535 blocks)\n",
                   size_name(size).c_str(), bs);
      return kExitUsage;
    }
    sizes_in_blocks.push_back(static_cast<uint32_t>(size / bs));
    max_blocks = std::max(max_blocks, sizes_in_blocks.back());
  }

  LbaRange range{0, std::min<uint64_t>(session->num_blocks(), (64u << 20) / bs)};
  if (!o.range.empty()) {
    auto r = parse_range(o.range);
    if (!r) {
      std::fprintf(stderr, "iscsi-rwverify: --range '%s': expected LBA:COUNT\n", o.range.c_str());
      return kExitUsage;
    }
    range = *r;
  }
  if (range.lba + range.blocks > session->num_blocks() || range.lba + range.blocks < range.lba) {
    std::fprintf(stderr, "iscsi-rwverify: --range %llu:%llu is beyond the LUN's %llu blocks\n",
                 static_cast<unsigned long long>(range.lba),
                 static_cast<unsigned long long>(range.blocks),
                 static_cast<unsigned long long>(session->num_blocks()));
    return kExitUsage;
  }
  uint64_t seed = o.seed;
  std::vector<PlannedIo> log_plan;
  if (log) {
    if (log->block_size != bs) {
      std::fprintf(stderr, "iscsi-rwverify: %s was written with %u-byte blocks, the LUN has %u\n",
                   o.ack_log.c_str(), log->block_size, bs);
      return kExitUsage;
    }
    seed = log->seed;
    for (const LbaRange& e : log->extents) {
      if (e.lba + e.blocks > session->num_blocks() || e.blocks > 0xffff) {
        std::fprintf(stderr, "iscsi-rwverify: %s: extent %llu+%llu does not fit the LUN\n",
                     o.ack_log.c_str(), static_cast<unsigned long long>(e.lba),
                     static_cast<unsigned long long>(e.blocks));
        return kExitUsage;
      }
      PlannedIo io;
      io.lba = e.lba;
      io.blocks = static_cast<uint32_t>(e.blocks);
      io.use16 = cdb == CdbChoice::k16 || (cdb == CdbChoice::kMixed && log_plan.size() % 2) ||
                 io.lba + io.blocks > (uint64_t{1} << 32);
      log_plan.push_back(io);
      max_blocks = std::max(max_blocks, io.blocks);
    }
  }
  if (!o.quiet) {
    if (log) {
      std::printf("iscsi-rwverify: %s LUN %d at %s: verifying the %zu extents in %s, seed %llu\n",
                  session->target().c_str(), session->lun(), session->portal().c_str(),
                  log_plan.size(), o.ack_log.c_str(), static_cast<unsigned long long>(seed));
    } else {
      std::printf(
          "iscsi-rwverify: %s LUN %d at %s: %llu blocks of %u bytes; range %llu:%llu (%s), "
          "xfer %s, qd %d, seed %llu\n",
          session->target().c_str(), session->lun(), session->portal().c_str(),
          static_cast<unsigned long long>(session->num_blocks()), bs,
          static_cast<unsigned long long>(range.lba), static_cast<unsigned long long>(range.blocks),
          size_name(range.blocks * bs).c_str(), o.xfer.c_str(), o.qd,
          static_cast<unsigned long long>(seed));
    }
  }

  std::unique_ptr<AckLogWriter> ack_writer;
  if (!o.verify_only && !o.ack_log.empty()) {
    ack_writer = AckLogWriter::create(o.ack_log, seed, bs, &error);
    if (!ack_writer) {
      std::fprintf(stderr, "iscsi-rwverify: %s\n", error.c_str());
      return kExitUsage;
    }
  }
  RunnerOptions ropts;
  ropts.qd = o.qd;
  ropts.max_report = o.max_report;
  ropts.sync_every = o.sync_every;
  ropts.ack_log = ack_writer.get();
  Runner runner(std::move(session), ropts, BlockPattern(seed, bs), max_blocks);
  PlanSpec spec;
  spec.first_lba = range.lba;
  spec.blocks = range.blocks;
  spec.sizes_in_blocks = sizes_in_blocks;
  spec.seed = seed;
  spec.cdb = cdb;

  if (!o.verify_only) {
    spec.phase = 0;
    spec.fua = fua;
    const auto plan = make_plan(spec);
    const auto t0 = Clock::now();
    for (uint64_t pass = 0; o.passes == 0 || pass < o.passes; ++pass) {
      if (!runner.write(plan)) return kExitCommand;
    }
    if (!o.no_sync && !runner.synchronize_cache()) return kExitCommand;
    const double secs = seconds_since(t0);
    if (!o.quiet) {
      std::printf(
          "iscsi-rwverify: wrote %llu commands (%llu WRITE(10), %llu WRITE(16), %llu FUA), %s, "
          "in %.2f s (%.1f MB/s), %llu SYNCHRONIZE CACHE%s\n",
          static_cast<unsigned long long>(runner.commands()),
          static_cast<unsigned long long>(runner.count10()),
          static_cast<unsigned long long>(runner.count16()),
          static_cast<unsigned long long>(runner.count_fua()), size_name(runner.bytes()).c_str(),
          secs, runner.bytes() / secs / 1e6, static_cast<unsigned long long>(runner.syncs()),
          ack_writer ? fmt::format(", {} extents logged durable", ack_writer->extents()).c_str()
                     : "");
    }
    runner.reset_counters();
  }

  if (!o.write_only) {
    spec.phase = 1;  // cut differently from the write phase: reads straddle write boundaries
    spec.fua = FuaChoice::kNever;
    const auto plan = log ? log_plan : make_plan(spec);
    const auto t0 = Clock::now();
    if (!runner.read_and_verify(plan)) return kExitCommand;
    const double secs = seconds_since(t0);
    if (runner.bad_blocks() != 0) {
      std::fprintf(stderr, "iscsi-rwverify: FAILED %llu blocks did not verify (seed %llu)\n",
                   static_cast<unsigned long long>(runner.bad_blocks()),
                   static_cast<unsigned long long>(seed));
      return kExitMismatch;
    }
    if (!o.quiet) {
      std::printf(
          "iscsi-rwverify: verified %llu blocks in %llu commands (%llu READ(10), %llu READ(16)) "
          "in %.2f s (%.1f MB/s); at most %d commands were in flight at the target\n",
          static_cast<unsigned long long>(runner.bytes() / bs),
          static_cast<unsigned long long>(runner.commands()),
          static_cast<unsigned long long>(runner.count10()),
          static_cast<unsigned long long>(runner.count16()), secs, runner.bytes() / secs / 1e6,
          runner.peak_in_flight());
    }
  }

  if (!runner.session().logout(&error)) {
    std::fprintf(stderr, "iscsi-rwverify: %s\n", error.c_str());
    return kExitCommand;
  }
  std::printf("iscsi-rwverify: OK\n");
  return kExitOk;
}

}  // namespace
}  // namespace swiftness::bench

int main(int argc, char** argv) {
  using swiftness::bench::Options;
  Options o;
  po::options_description desc(
      "Usage: iscsi-rwverify [options] iscsi://[user%secret@]host[:port]/target-iqn/lun\n"
      "Writes a seeded pattern, SYNCHRONIZE CACHE, reads back and verifies every byte.\n"
      "Exit: 0 verified, 1 mismatch, 2 usage, 3 connect/login, 4 command failed\nOptions");
  // clang-format off
  desc.add_options()
    ("help,h", "this text")
    ("range", po::value(&o.range), "LBA:COUNT in blocks (default: first 64 MiB of the LUN)")
    ("xfer", po::value(&o.xfer)->default_value("4k,1m"),
     "transfer sizes, mixed at random within one run")
    ("qd", po::value(&o.qd)->default_value(16), "commands in flight")
    ("seed", po::value(&o.seed)->default_value(1), "pattern seed (same seed verifies later)")
    ("write-only", po::bool_switch(&o.write_only), "write (and sync) only")
    ("verify-only", po::bool_switch(&o.verify_only), "read and verify only")
    ("cdb", po::value(&o.cdb)->default_value("mixed"), "READ/WRITE CDB size: 10 | 16 | mixed")
    ("fua", po::value(&o.fua)->default_value("mixed"),
     "FUA on writes: never | always | mixed (one in four)")
    ("no-sync", po::bool_switch(&o.no_sync), "skip SYNCHRONIZE CACHE after writing")
    ("sync-every", po::value(&o.sync_every)->default_value(0),
     "also SYNCHRONIZE CACHE after every N writes, while writing goes on (0: only at the end)")
    ("passes", po::value(&o.passes)->default_value(1),
     "with --write-only: write the range N times (0: until a failure, e.g. the target is killed)")
    ("ack-log", po::value(&o.ack_log),
     "writing: log each extent once the target made it durable (FUA or a later SYNCHRONIZE "
     "CACHE); with --verify-only: verify exactly the logged extents with the logged seed")
    ("max-report", po::value(&o.max_report)->default_value(10), "mismatching blocks to describe")
    ("quiet,q", po::bool_switch(&o.quiet), "print only errors and the final OK");
  // clang-format on
  swiftness::bench::add_connect_options(desc, o.connect, "iqn.2026-11.org.swiftness:rwverify");
  if (auto code =
          swiftness::bench::parse_command_line(argc, argv, desc, o.connect, "iscsi-rwverify"))
    return *code;
  return swiftness::bench::run(o);
}
