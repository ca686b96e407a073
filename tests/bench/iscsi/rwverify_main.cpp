// iscsi-rwverify: writes deterministic patterns to a LUN over iSCSI, reads them back and checks
// every byte. Exit code 0 only if every block verified. See README.md for usage.
//
// Exit codes: 0 all verified, 1 data mismatch, 2 usage error, 3 connect/login failed,
//             4 a command failed or the connection dropped.

#include <sys/uio.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <boost/program_options.hpp>

#include "tests/bench/iscsi/block_pattern.hpp"
#include "tests/bench/iscsi/cli_util.hpp"
#include "tests/bench/iscsi/io_plan.hpp"
#include "tests/bench/iscsi/iscsi_session.hpp"

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

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
};

using Clock = std::chrono::steady_clock;

class Runner;

// One command slot: its buffer lives as long as the runner, so libiscsi may keep pointing at it
// until the command completes (libiscsi does not copy write data, and reads land in `iov`).
struct Slot {
  Runner* runner = nullptr;
  std::unique_ptr<std::byte[], decltype(&std::free)> buffer{nullptr, &std::free};
  scsi_iovec iov{};
  scsi_task* task = nullptr;
  PlannedIo io;
  bool is_write = false;
  bool is_sync = false;
};

class Runner {
 public:
  Runner(std::unique_ptr<IscsiSession> session, const Options& opts, BlockPattern pattern,
         uint32_t max_blocks)
      : session_(std::move(session)), opts_(opts), pattern_(pattern) {
    slots_.resize(static_cast<size_t>(opts.qd));
    const size_t bytes = size_t{max_blocks} * pattern.block_size();
    for (Slot& s : slots_) {
      s.runner = this;
      void* p = nullptr;
      if (posix_memalign(&p, 4096, bytes) != 0) std::abort();
      s.buffer.reset(static_cast<std::byte*>(p));
    }
  }

  // Dropping the session completes whatever is still in flight (CANCELLED) through our callbacks,
  // so it must happen while the slots still exist.
  ~Runner() {
    failed_ = true;  // no resubmission from those callbacks
    session_.reset();
  }
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  IscsiSession& session() { return *session_; }

  // Issues every planned command with up to qd in flight; returns false on a command failure.
  bool run(const std::vector<PlannedIo>& plan, bool is_write) {
    plan_ = &plan;
    next_ = 0;
    is_write_ = is_write;
    for (Slot& s : slots_) {
      if (!submit_next(s)) break;
    }
    return drain();
  }

  // SYNCHRONIZE CACHE (10) over the whole medium: SBC-3 5.22, LBA 0 with NUMBER OF LOGICAL
  // BLOCKS 0 means "to the end of the medium".
  bool synchronize_cache() {
    Slot& s = slots_[0];
    s.is_sync = true;
    s.is_write = false;
    s.task = iscsi_synchronizecache10_task(session_->ctx(), session_->lun(), 0, 0, 0, 0,
                                           &Runner::on_complete, &s);
    if (s.task == nullptr) {
      fail(fmt::format("SYNCHRONIZE CACHE (10): cannot queue: {}", session_->last_error()));
      return false;
    }
    ++outstanding_;
    return drain();
  }

  uint64_t commands() const { return commands_; }
  uint64_t bytes() const { return bytes_; }
  uint64_t count10() const { return count10_; }
  uint64_t count16() const { return count16_; }
  uint64_t count_fua() const { return count_fua_; }
  uint64_t bad_blocks() const { return bad_blocks_; }
  bool failed() const { return failed_; }
  int peak_in_flight() const { return peak_in_flight_; }
  void reset_counters() { commands_ = bytes_ = count10_ = count16_ = count_fua_ = 0; }

 private:
  static void on_complete(iscsi_context* ctx, int status, void* /*command_data*/, void* priv) {
    auto* slot = static_cast<Slot*>(priv);
    slot->runner->complete(ctx, *slot, status);
  }

  bool submit_next(Slot& s) {
    if (failed_ || next_ >= plan_->size()) return false;
    s.io = (*plan_)[next_++];
    s.is_write = is_write_;
    s.is_sync = false;
    const uint32_t bs = pattern_.block_size();
    const uint32_t len = s.io.blocks * bs;
    iscsi_context* ctx = session_->ctx();
    const int lun = session_->lun();
    if (is_write_) {
      pattern_.fill(s.io.lba, {s.buffer.get(), len});
      auto* data = reinterpret_cast<unsigned char*>(s.buffer.get());
      s.task = s.io.use16 ? iscsi_write16_task(ctx, lun, s.io.lba, data, len, bs, 0, 0, s.io.fua, 0,
                                               0, &Runner::on_complete, &s)
                          : iscsi_write10_task(ctx, lun, static_cast<uint32_t>(s.io.lba), data, len,
                                               bs, 0, 0, s.io.fua, 0, 0, &Runner::on_complete, &s);
    } else {
      // Poison the buffer so a short or missing Data-In cannot pass for the previous contents.
      std::memset(s.buffer.get(), 0xa5, len);
      s.iov.iov_base = s.buffer.get();
      s.iov.iov_len = len;
      s.task = s.io.use16
                   ? iscsi_read16_iov_task(ctx, lun, s.io.lba, len, bs, 0, 0, 0, 0, 0,
                                           &Runner::on_complete, &s, &s.iov, 1)
                   : iscsi_read10_iov_task(ctx, lun, static_cast<uint32_t>(s.io.lba), len, bs, 0, 0,
                                           0, 0, 0, &Runner::on_complete, &s, &s.iov, 1);
    }
    if (s.task == nullptr) {
      fail(fmt::format("{}: cannot queue: {}", op_name(s), session_->last_error()));
      return false;
    }
    ++outstanding_;
    return true;
  }

  void complete(iscsi_context* ctx, Slot& s, int status) {
    --outstanding_;
    scsi_task* task = s.task;
    s.task = nullptr;
    if (status != SCSI_STATUS_GOOD) {
      fail(fmt::format("{}: {}", op_name(s), describe_failure(ctx, status, task)));
    } else if (!s.is_sync) {
      const uint32_t len = s.io.blocks * pattern_.block_size();
      if (task->residual_status != SCSI_RESIDUAL_NO_RESIDUAL) {
        fail(fmt::format(
            "{}: unexpected residual {} of {} bytes ({})", op_name(s), task->residual, len,
            task->residual_status == SCSI_RESIDUAL_UNDERFLOW ? "underflow" : "overflow"));
      } else {
        ++commands_;
        bytes_ += len;
        ++(s.io.use16 ? count16_ : count10_);
        if (s.is_write && s.io.fua) ++count_fua_;
        if (!s.is_write) check(s, len);
      }
    }
    if (task != nullptr) scsi_free_scsi_task(task);
    if (!s.is_sync) submit_next(s);
  }

  void check(const Slot& s, uint32_t len) {
    const uint32_t bs = pattern_.block_size();
    for (uint32_t i = 0; i < s.io.blocks; ++i) {
      std::span<const std::byte> block{s.buffer.get() + size_t{i} * bs, bs};
      uint64_t bad_lba = 0;
      std::string detail;
      if (pattern_.verify(s.io.lba + i, block, &bad_lba, &detail) == 0) continue;
      if (static_cast<int>(bad_blocks_) < opts_.max_report) {
        std::fprintf(stderr, "iscsi-rwverify: MISMATCH (%s) %s\n", op_name(s).c_str(),
                     detail.c_str());
      }
      ++bad_blocks_;
    }
    (void)len;
  }

  // Waits for every outstanding command; false if any failed.
  bool drain() {
    std::string error;
    while (outstanding_ > 0) {
      if (!session_->service(1000, &error)) {
        fail(error);
        return false;
      }
      // Commands sent and not yet answered: shows the target really had qd commands at once
      // (libiscsi holds back what the target's MaxCmdSN window does not admit).
      peak_in_flight_ = std::max(peak_in_flight_, iscsi_queue_length(session_->ctx()));
    }
    return !failed_;
  }

  void fail(const std::string& message) {
    if (!failed_) std::fprintf(stderr, "iscsi-rwverify: FAILED %s\n", message.c_str());
    failed_ = true;
  }

  std::string op_name(const Slot& s) const {
    if (s.is_sync) return "SYNCHRONIZE CACHE (10)";
    return fmt::format("{} ({}){} LBA {} blocks {}", s.is_write ? "WRITE" : "READ",
                       s.io.use16 ? 16 : 10, s.is_write && s.io.fua ? " FUA" : "", s.io.lba,
                       s.io.blocks);
  }

  std::unique_ptr<IscsiSession> session_;
  const Options& opts_;
  BlockPattern pattern_;
  std::vector<Slot> slots_;
  const std::vector<PlannedIo>* plan_ = nullptr;
  size_t next_ = 0;
  bool is_write_ = false;
  int outstanding_ = 0;
  bool failed_ = false;
  uint64_t commands_ = 0, bytes_ = 0, count10_ = 0, count16_ = 0, count_fua_ = 0;
  uint64_t bad_blocks_ = 0;
  int peak_in_flight_ = 0;
};

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

  std::string error;
  auto session = IscsiSession::connect(o.connect, &error);
  if (!session) {
    std::fprintf(stderr, "iscsi-rwverify: %s\n", error.c_str());
    return kExitConnect;
  }
  const uint32_t bs = session->block_size();
  std::vector<uint32_t> sizes_in_blocks;
  uint32_t max_blocks = 0;
  for (uint64_t size : *sizes) {
    if (size == 0 || size % bs != 0 || size / bs > 0xffffffffULL) {
      std::fprintf(stderr, "iscsi-rwverify: --xfer %s is not a multiple of the block size %u\n",
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
  if (!o.quiet) {
    std::printf(
        "iscsi-rwverify: %s LUN %d at %s: %llu blocks of %u bytes; range %llu:%llu (%s), "
        "xfer %s, qd %d, seed %llu\n",
        session->target().c_str(), session->lun(), session->portal().c_str(),
        static_cast<unsigned long long>(session->num_blocks()), bs,
        static_cast<unsigned long long>(range.lba), static_cast<unsigned long long>(range.blocks),
        size_name(range.blocks * bs).c_str(), o.xfer.c_str(), o.qd,
        static_cast<unsigned long long>(o.seed));
  }

  BlockPattern pattern(o.seed, bs);
  Runner runner(std::move(session), o, pattern, max_blocks);
  PlanSpec spec;
  spec.first_lba = range.lba;
  spec.blocks = range.blocks;
  spec.sizes_in_blocks = sizes_in_blocks;
  spec.seed = o.seed;
  spec.cdb = cdb;

  if (!o.verify_only) {
    spec.phase = 0;
    spec.fua = fua;
    const auto plan = make_plan(spec);
    const auto t0 = Clock::now();
    if (!runner.run(plan, /*is_write=*/true)) return kExitCommand;
    if (!o.no_sync && !runner.synchronize_cache()) return kExitCommand;
    const double secs = seconds_since(t0);
    if (!o.quiet) {
      std::printf(
          "iscsi-rwverify: wrote %llu commands (%llu WRITE(10), %llu WRITE(16), %llu FUA), %s, "
          "in %.2f s (%.1f MB/s)%s\n",
          static_cast<unsigned long long>(runner.commands()),
          static_cast<unsigned long long>(runner.count10()),
          static_cast<unsigned long long>(runner.count16()),
          static_cast<unsigned long long>(runner.count_fua()), size_name(runner.bytes()).c_str(),
          secs, runner.bytes() / secs / 1e6, o.no_sync ? "" : ", then SYNCHRONIZE CACHE");
    }
    runner.reset_counters();
  }

  if (!o.write_only) {
    spec.phase = 1;  // different cut from the write phase: reads straddle write boundaries
    spec.fua = FuaChoice::kNever;
    const auto plan = make_plan(spec);
    const auto t0 = Clock::now();
    if (!runner.run(plan, /*is_write=*/false)) return kExitCommand;
    const double secs = seconds_since(t0);
    if (runner.bad_blocks() != 0) {
      std::fprintf(
          stderr, "iscsi-rwverify: FAILED %llu of %llu blocks did not verify (seed %llu)\n",
          static_cast<unsigned long long>(runner.bad_blocks()),
          static_cast<unsigned long long>(range.blocks), static_cast<unsigned long long>(o.seed));
      return kExitMismatch;
    }
    if (!o.quiet) {
      std::printf(
          "iscsi-rwverify: verified %llu blocks in %llu commands (%llu READ(10), %llu READ(16)) "
          "in %.2f s (%.1f MB/s); at most %d commands were in flight at the target\n",
          static_cast<unsigned long long>(range.blocks),
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
    ("max-report", po::value(&o.max_report)->default_value(10), "mismatching blocks to describe")
    ("quiet,q", po::bool_switch(&o.quiet), "print only errors and the final OK");
  // clang-format on
  swiftness::bench::add_connect_options(desc, o.connect, "iqn.2026-11.org.swiftness:rwverify");
  po::options_description hidden;
  hidden.add_options()("url", po::value(&o.connect.url));
  po::options_description all;
  all.add(desc).add(hidden);
  po::positional_options_description pos;
  pos.add("url", 1);
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "iscsi-rwverify: %s (try --help)\n", e.what());
    return 2;
  }
  if (o.connect.url.empty()) {
    std::fprintf(stderr, "iscsi-rwverify: missing iscsi:// URL (try --help)\n");
    return 2;
  }
  if (std::string error; !swiftness::bench::validate_connect_options(o.connect, &error)) {
    std::fprintf(stderr, "iscsi-rwverify: %s\n", error.c_str());
    return 2;
  }
  return swiftness::bench::run(o);
}
