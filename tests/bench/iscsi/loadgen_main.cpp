// iscsi-loadgen: drives a LUN with a fixed number of commands in flight and reports IOPS, MB/s and
// latency percentiles, as a table line and as one JSON line (the last line of stdout).
//
// Built for low overhead so it measures the target: one libiscsi session per thread, buffers
// allocated once, reads land directly in them (iovec API, no copy), latencies go into a fixed
// histogram. The JSON includes the client's own CPU use so a saturated client is visible.
//
// Exit codes: 0 ok, 2 usage error, 3 connect/login failed, 4 a command failed, 5 the watchdog
// ended a run that outlived every bound (see Watchdog).

#include <sys/resource.h>
#include <sys/uio.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <boost/program_options.hpp>

#include "tests/bench/iscsi/block_pattern.hpp"
#include "tests/bench/iscsi/cli_util.hpp"
#include "tests/bench/iscsi/iscsi_session.hpp"
#include "tests/bench/iscsi/latency_histogram.hpp"
#include "tests/bench/iscsi/watchdog.hpp"

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

namespace po = boost::program_options;

namespace swiftness::bench {
namespace {

using Clock = std::chrono::steady_clock;

enum class Workload { kRandRead, kRandWrite, kSeqRead, kSeqWrite };

struct Options {
  ConnectOptions connect;
  std::string rw = "randread";
  std::string bs = "4k";
  int qd = 1;
  int sessions = 1;
  double duration_s = 10;
  double ramp_s = 0;
  uint64_t ops = 0;
  std::string range;
  uint64_t seed = 1;
  std::string cdb = "auto";
  bool fua = false;
  bool keep_going = false;
  std::string label;
};

struct Config {
  Workload workload;
  bool is_write;
  bool random;
  uint32_t block_size;
  uint32_t io_blocks;
  uint64_t ops_per_session;  // 0: bounded by time only
  Clock::time_point measure_from;
  Clock::time_point stop_at;
  int cdb;  // 10, 16, 0 = auto
  bool fua;
  bool keep_going;  // a failed command is counted and its slot goes on
};

class Worker;

struct Slot {
  Worker* worker = nullptr;
  std::unique_ptr<std::byte[], decltype(&std::free)> buffer{nullptr, &std::free};
  scsi_iovec iov{};
  scsi_task* task = nullptr;
  Clock::time_point started;
};

// One session, one thread, qd slots. Only this thread touches its state until join().
class Worker {
 public:
  Worker(std::unique_ptr<IscsiSession> session, const Config& cfg, int qd, uint64_t first_lba,
         uint64_t blocks, uint64_t seed, Progress& progress, Clock::time_point start)
      : session_(std::move(session)),
        cfg_(cfg),
        first_lba_(first_lba),
        blocks_(blocks),
        progress_(progress),
        start_(start) {
    rng_ = seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
    slots_.resize(static_cast<size_t>(qd));
    const size_t bytes = size_t{cfg.io_blocks} * cfg.block_size;
    for (Slot& s : slots_) {
      s.worker = this;
      void* p = nullptr;
      if (posix_memalign(&p, 4096, bytes) != 0) std::abort();
      s.buffer.reset(static_cast<std::byte*>(p));
      // Writes carry varied, non-zero data: some targets shortcut zero blocks.
      uint64_t fill = rng_ ^ reinterpret_cast<uintptr_t>(p);
      for (size_t i = 0; i + 8 <= bytes; i += 8) {
        const uint64_t v = splitmix64(fill);
        std::memcpy(s.buffer.get() + i, &v, 8);
      }
      s.iov.iov_base = s.buffer.get();
      s.iov.iov_len = bytes;
    }
    slots_per_range_ = blocks_ / cfg.io_blocks;
  }
  ~Worker() {
    stopping_ = true;
    session_.reset();  // cancels anything in flight through our callbacks, slots still alive
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void run() {
    for (Slot& s : slots_) {
      if (!submit(s)) break;
    }
    std::string error;
    while (outstanding_ > 0) {
      if (!session_->service(1000, &error)) {
        note_error(error);
        break;
      }
      // What the target really held at once: below --qd if its CmdSN window is smaller.
      peak_at_target_ = std::max(peak_at_target_, session_->awaiting_response());
    }
  }

  // Logs out after run(); a failure here is reported but does not change the figures.
  void logout() {
    std::string error;
    if (error_.empty() && !session_->logout(&error)) note_error(error);
  }

  const LatencyHistogram& histogram() const { return hist_; }
  uint64_t measured_ops() const { return measured_ops_; }
  uint64_t errors() const { return errors_; }
  const std::string& first_error() const { return error_; }
  Clock::time_point last_completion() const { return last_completion_; }
  int peak_at_target() const { return peak_at_target_; }
  Clock::duration max_any() const { return max_any_; }

 private:
  static void on_complete(iscsi_context* ctx, int status, void* /*command_data*/, void* priv) {
    auto* slot = static_cast<Slot*>(priv);
    slot->worker->complete(ctx, *slot, status);
  }

  uint64_t next_lba() {
    uint64_t index;
    if (cfg_.random) {
      index = splitmix64(rng_) % slots_per_range_;
    } else {
      index = seq_cursor_++;
      if (seq_cursor_ == slots_per_range_) seq_cursor_ = 0;  // wrap to the range start
    }
    return first_lba_ + index * cfg_.io_blocks;
  }

  bool submit(Slot& s) {
    if (stopping_) return false;
    if (cfg_.ops_per_session != 0 && issued_ >= cfg_.ops_per_session) return false;
    s.started = Clock::now();
    if (s.started >= cfg_.stop_at) return false;
    const uint64_t lba = next_lba();
    const uint32_t len = cfg_.io_blocks * cfg_.block_size;
    const bool use16 =
        cfg_.cdb == 16 ||
        (cfg_.cdb == 0 && (lba + cfg_.io_blocks > (uint64_t{1} << 32) || cfg_.io_blocks > 0xffff));
    iscsi_context* ctx = session_->ctx();
    const int lun = session_->lun();
    const uint32_t bs = cfg_.block_size;
    if (cfg_.is_write) {
      auto* data = reinterpret_cast<unsigned char*>(s.buffer.get());
      s.task = use16 ? iscsi_write16_task(ctx, lun, lba, data, len, bs, 0, 0, cfg_.fua, 0, 0,
                                          &Worker::on_complete, &s)
                     : iscsi_write10_task(ctx, lun, static_cast<uint32_t>(lba), data, len, bs, 0, 0,
                                          cfg_.fua, 0, 0, &Worker::on_complete, &s);
    } else {
      s.task = use16 ? iscsi_read16_iov_task(ctx, lun, lba, len, bs, 0, 0, 0, 0, 0,
                                             &Worker::on_complete, &s, &s.iov, 1)
                     : iscsi_read10_iov_task(ctx, lun, static_cast<uint32_t>(lba), len, bs, 0, 0, 0,
                                             0, 0, &Worker::on_complete, &s, &s.iov, 1);
    }
    if (s.task == nullptr) {
      note_error(fmt::format("cannot queue command: {}", session_->last_error()));
      return false;
    }
    ++issued_;
    ++outstanding_;
    progress_.outstanding.store(outstanding_, std::memory_order_relaxed);
    return true;
  }

  void complete(iscsi_context* ctx, Slot& s, int status) {
    --outstanding_;
    const auto now = Clock::now();
    progress_.outstanding.store(outstanding_, std::memory_order_relaxed);
    progress_.completed.fetch_add(1, std::memory_order_relaxed);
    progress_.last_completion_ms.store(
        std::chrono::duration_cast<std::chrono::milliseconds>(now - start_).count(),
        std::memory_order_relaxed);
    scsi_task* task = s.task;
    s.task = nullptr;
    // Every command, failed or completing after the window: what an initiator's command
    // timeout is compared with.
    max_any_ = std::max(max_any_, now - s.started);
    if (status != SCSI_STATUS_GOOD) {
      ++errors_;
      if (error_.empty()) error_ = describe_failure(ctx, status, task);
      // A lost connection ends the run even with --keep-going (nothing to submit on).
      if (!cfg_.keep_going ||
          (status != SCSI_STATUS_CHECK_CONDITION && status != SCSI_STATUS_BUSY)) {
        stopping_ = true;
      }
    } else if (now >= cfg_.measure_from && now <= cfg_.stop_at) {
      // Count what completes inside the window; commands still in flight at the end are drained
      // but not counted, the usual convention (fio does the same).
      hist_.record(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(now - s.started).count()));
      ++measured_ops_;
      last_completion_ = now;
    }
    if (task != nullptr) scsi_free_scsi_task(task);
    if (!stopping_) submit(s);
  }

  void note_error(const std::string& e) {
    if (error_.empty()) error_ = e;
    stopping_ = true;
  }

  std::vector<Slot> slots_;
  std::unique_ptr<IscsiSession> session_;
  const Config& cfg_;
  uint64_t first_lba_;
  uint64_t blocks_;
  uint64_t slots_per_range_ = 0;
  uint64_t seq_cursor_ = 0;
  uint64_t rng_;
  uint64_t issued_ = 0;
  int outstanding_ = 0;
  Progress& progress_;
  Clock::time_point start_;
  bool stopping_ = false;
  LatencyHistogram hist_;
  uint64_t measured_ops_ = 0;
  uint64_t errors_ = 0;
  std::string error_;
  Clock::time_point last_completion_{};
  int peak_at_target_ = 0;
  Clock::duration max_any_{};
};

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<int>(c));
      continue;
    }
    out += c;
  }
  return out;
}

int run(const Options& o) {
  Config cfg{};
  if (o.rw == "randread")
    cfg.workload = Workload::kRandRead;
  else if (o.rw == "randwrite")
    cfg.workload = Workload::kRandWrite;
  else if (o.rw == "seqread" || o.rw == "read")
    cfg.workload = Workload::kSeqRead;
  else if (o.rw == "seqwrite" || o.rw == "write")
    cfg.workload = Workload::kSeqWrite;
  else {
    std::fprintf(stderr, "iscsi-loadgen: --rw takes randread, randwrite, seqread or seqwrite\n");
    return 2;
  }
  cfg.is_write = cfg.workload == Workload::kRandWrite || cfg.workload == Workload::kSeqWrite;
  cfg.random = cfg.workload == Workload::kRandRead || cfg.workload == Workload::kRandWrite;
  cfg.fua = o.fua;
  cfg.keep_going = o.keep_going;
  if (o.cdb == "auto")
    cfg.cdb = 0;
  else if (o.cdb == "10")
    cfg.cdb = 10;
  else if (o.cdb == "16")
    cfg.cdb = 16;
  else {
    std::fprintf(stderr, "iscsi-loadgen: --cdb takes auto, 10 or 16\n");
    return 2;
  }
  auto io_bytes = parse_size(o.bs);
  if (!io_bytes || *io_bytes == 0) {
    std::fprintf(stderr, "iscsi-loadgen: --bs '%s': expected a size like 4k or 1m\n", o.bs.c_str());
    return 2;
  }
  if (o.qd < 1 || o.qd > 1024 || o.sessions < 1 || o.sessions > 64) {
    std::fprintf(stderr, "iscsi-loadgen: --qd must be in 1..1024 and --sessions in 1..64\n");
    return 2;
  }
  if (o.duration_s <= 0 && o.ops == 0) {
    std::fprintf(stderr, "iscsi-loadgen: give a --duration > 0 or an --ops count\n");
    return 2;
  }

  // Bounds for the watchdog: libiscsi's per-PDU timeout, plus slack for a loaded machine.
  const auto slack = std::chrono::seconds(30);
  const auto pdu_timeout = std::chrono::seconds(o.connect.timeout_s);
  const bool bounded = o.connect.timeout_s > 0;
  Watchdog watchdog(Clock::now());
  // Log every session in before the clock starts, so login time is not part of the figures.
  std::vector<std::unique_ptr<IscsiSession>> sessions;
  for (int i = 0; i < o.sessions; ++i) {
    watchdog.phase(fmt::format("the login of session {}", i),
                   bounded ? 4 * pdu_timeout + slack : Clock::duration::zero());
    std::string error;
    auto s = IscsiSession::connect(o.connect, &error);
    if (!s) {
      std::fprintf(stderr, "iscsi-loadgen: session %d: %s\n", i, error.c_str());
      return 3;
    }
    sessions.push_back(std::move(s));
  }
  const uint32_t bs = sessions[0]->block_size();
  if (*io_bytes % bs != 0) {
    std::fprintf(stderr, "iscsi-loadgen: --bs %s is not a multiple of the block size %u\n",
                 size_name(*io_bytes).c_str(), bs);
    return 2;
  }
  cfg.block_size = bs;
  cfg.io_blocks = static_cast<uint32_t>(*io_bytes / bs);
  LbaRange range{0, sessions[0]->num_blocks()};
  if (!o.range.empty()) {
    auto r = parse_range(o.range);
    if (!r || r->lba + r->blocks > range.blocks) {
      std::fprintf(stderr, "iscsi-loadgen: --range '%s': expected LBA:COUNT inside the LUN\n",
                   o.range.c_str());
      return 2;
    }
    range = *r;
  }
  // Sequential streams get one slice of the range each, so sessions do not read each other's
  // blocks; random workloads share the whole range.
  const uint64_t slice = o.sessions > 1 && !cfg.random ? range.blocks / o.sessions : range.blocks;
  if (slice < cfg.io_blocks) {
    std::fprintf(stderr, "iscsi-loadgen: range too small for --bs %s\n",
                 size_name(*io_bytes).c_str());
    return 2;
  }
  cfg.ops_per_session = o.ops == 0 ? 0 : (o.ops + o.sessions - 1) / o.sessions;

  const auto start = Clock::now();
  cfg.measure_from =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.ramp_s));
  cfg.stop_at = o.duration_s > 0
                    ? cfg.measure_from + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(o.duration_s))
                    : Clock::time_point::max();
  std::vector<Progress> progress(static_cast<size_t>(o.sessions));
  watchdog.watch_sessions(&progress);
  // Commands stop being submitted at stop_at; the last ones may take up to the PDU timeout.
  watchdog.phase("the load", bounded && o.duration_s > 0
                                 ? std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(o.ramp_s + o.duration_s)) +
                                       pdu_timeout + slack
                                 : Clock::duration::zero());
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < o.sessions; ++i) {
    const uint64_t first = range.lba + (slice == range.blocks ? 0 : slice * i);
    workers.push_back(std::make_unique<Worker>(std::move(sessions[i]), cfg, o.qd, first, slice,
                                               o.seed + static_cast<uint64_t>(i), progress[i],
                                               start));
  }
  const double cpu0 = cpu_seconds();
  std::vector<std::thread> threads;
  for (auto& w : workers)
    threads.emplace_back([&w] { w->run(); });
  for (auto& t : threads)
    t.join();
  const auto end_all = Clock::now();
  const double cpu_used = cpu_seconds() - cpu0;
  watchdog.phase("the logout", bounded ? pdu_timeout + slack : Clock::duration::zero());
  for (auto& w : workers)
    w->logout();
  watchdog.phase("the report", Clock::duration::zero());

  LatencyHistogram hist;
  uint64_t ops = 0, errors = 0;
  Clock::time_point last{};
  std::string first_error;
  Clock::duration max_any{};
  int qd_reached = 0;  // the lowest per-session peak: the depth every session reached
  for (auto& w : workers) {
    qd_reached = qd_reached == 0 ? w->peak_at_target() : std::min(qd_reached, w->peak_at_target());
    hist.merge(w->histogram());
    ops += w->measured_ops();
    errors += w->errors();
    last = std::max(last, w->last_completion());
    if (first_error.empty()) first_error = w->first_error();
    max_any = std::max(max_any, w->max_any());
  }
  // Time-bounded runs divide by the window; op-bounded ones by the time until the last count.
  const auto window_end =
      cfg.stop_at == Clock::time_point::max() ? last : std::min(cfg.stop_at, end_all);
  const double secs =
      std::max(1e-9, std::chrono::duration<double>(window_end - cfg.measure_from).count());
  const double iops = ops / secs;
  const double mbps = iops * *io_bytes / 1e6;
  const double wall = std::chrono::duration<double>(end_all - start).count();
  const double cpu_pct = 100.0 * cpu_used / std::max(wall, 1e-9);
  auto us = [](uint64_t ns) { return ns / 1000.0; };

  std::printf(
      "%-10s bs=%-7s qd=%-3d sessions=%d: %10.0f IOPS %9.1f MB/s  lat us: avg %.1f p50 %.1f "
      "p99 %.1f p99.9 %.1f max %.1f  (%llu ops in %.2f s, client CPU %.0f%%)\n",
      o.rw.c_str(), size_name(*io_bytes).c_str(), o.qd, o.sessions, iops, mbps, hist.mean() / 1000,
      us(hist.percentile(0.5)), us(hist.percentile(0.99)), us(hist.percentile(0.999)),
      us(hist.max()), static_cast<unsigned long long>(ops), secs, cpu_pct);
  if (errors != 0 || !first_error.empty()) {
    std::fprintf(stderr, "iscsi-loadgen: FAILED (%llu command errors): %s\n",
                 static_cast<unsigned long long>(errors), first_error.c_str());
  }
  std::printf(
      "{\"tool\":\"iscsi-loadgen\",\"label\":\"%s\",\"rw\":\"%s\",\"bs\":%llu,\"qd\":%d,"
      "\"sessions\":%d,\"ops\":%llu,\"seconds\":%.3f,\"iops\":%.1f,\"mbps\":%.2f,"
      "\"lat_avg_us\":%.1f,\"lat_p50_us\":%.1f,\"lat_p99_us\":%.1f,\"lat_p999_us\":%.1f,"
      "\"lat_max_us\":%.1f,\"lat_max_all_us\":%.1f,\"qd_reached\":%d,\"client_cpu_pct\":%.1f,"
      "\"errors\":%llu}\n",
      json_escape(o.label).c_str(), o.rw.c_str(), static_cast<unsigned long long>(*io_bytes), o.qd,
      o.sessions, static_cast<unsigned long long>(ops), secs, iops, mbps, hist.mean() / 1000,
      us(hist.percentile(0.5)), us(hist.percentile(0.99)), us(hist.percentile(0.999)),
      us(hist.max()),
      us(uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(max_any).count())),
      qd_reached, cpu_pct, static_cast<unsigned long long>(errors));
  if (qd_reached < o.qd) {
    std::fprintf(stderr,
                 "iscsi-loadgen: warning: the target held at most %d commands at once, not --qd "
                 "%d (its CmdSN window is smaller?)\n",
                 qd_reached, o.qd);
  }
  return errors != 0 || !first_error.empty() ? 4 : 0;
}

}  // namespace
}  // namespace swiftness::bench

int main(int argc, char** argv) {
  // Line by line even into a pipe: a run killed by its caller still leaves what it printed.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  swiftness::bench::Options o;
  po::options_description desc(
      "Usage: iscsi-loadgen [options] iscsi://[user%secret@]host[:port]/target-iqn/lun\n"
      "Keeps --qd commands in flight per session and reports IOPS, MB/s, latency percentiles;\n"
      "the last line of output is the same result as JSON.\nOptions");
  // clang-format off
  desc.add_options()
    ("help,h", "this text")
    ("rw", po::value(&o.rw)->default_value("randread"),
     "randread | randwrite | seqread | seqwrite")
    ("bs", po::value(&o.bs)->default_value("4k"), "bytes per command (4k, 1m, ...)")
    ("qd", po::value(&o.qd)->default_value(1), "commands in flight per session")
    ("sessions", po::value(&o.sessions)->default_value(1),
     "parallel sessions, one thread each")
    ("duration", po::value(&o.duration_s)->default_value(10), "seconds measured (0: --ops only)")
    ("ramp", po::value(&o.ramp_s)->default_value(0), "seconds of load before measuring")
    ("ops", po::value(&o.ops)->default_value(0), "stop after this many commands (0: no limit)")
    ("range", po::value(&o.range), "LBA:COUNT to address (default: the whole LUN)")
    ("seed", po::value(&o.seed)->default_value(1), "random offset seed")
    ("cdb", po::value(&o.cdb)->default_value("auto"),
     "auto (10 when it fits, as Linux sd does) | 10 | 16")
    ("fua", po::bool_switch(&o.fua), "set FUA on writes")
    ("keep-going", po::bool_switch(&o.keep_going),
     "count failed commands and carry on (fault tests); the exit code is still 4")
    ("label", po::value(&o.label), "free text copied into the JSON line");
  // clang-format on
  swiftness::bench::add_connect_options(desc, o.connect, "iqn.2026-11.org.swiftness:loadgen");
  if (auto code =
          swiftness::bench::parse_command_line(argc, argv, desc, o.connect, "iscsi-loadgen"))
    return *code;
  return swiftness::bench::run(o);
}
