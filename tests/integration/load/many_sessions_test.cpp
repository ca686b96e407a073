// 64 concurrent iSCSI sessions across 8 LUNs (4 file-backed, 4 Swift-backed on the swift_aio
// fixture) with mixed load against the real daemon (issue 8, "Many sessions"). Each session is
// one libiscsi connection on its own thread, one command at a time, over a region of its LUN
// that no other session touches: random writes of 4, 16 or 64 KiB (one in eight FUA), reads that
// check every block against what the session last wrote there, now and then SYNCHRONIZE CACHE.
// Asserted:
//  - integrity: every read returns exactly the session's last write of each block (or zeros),
//    and a final pass reads each whole region back;
//  - memory stays flat: the daemon's VmRSS, sampled every 5 s, grows by less than
//    kRssGrowthBound after the warm-up (the first quarter of the run, at most 60 s);
//  - no session starves: each completes at least kFairShare of the average operations of the
//    sessions on LUNs of its kind (file or Swift), whose speeds differ by design;
//  - no command fails, and the daemon then stops cleanly (SIGTERM drains to Swift).
// SWIFTNESS_SOAK_SECONDS sets the load duration (default 300).
#include <gtest/gtest.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "tests/bench/iscsi/block_pattern.hpp"
#include "tests/bench/iscsi/iscsi_session.hpp"
#include "tests/integration/support/process.hpp"
#include "tests/integration/swift/swift_aio_env.hpp"

using namespace swiftness::testing;
using namespace std::chrono_literals;
using swiftness::bench::BlockPattern;
using swiftness::bench::IscsiSession;

namespace {

constexpr const char* kIqn = "iqn.2026-11.io.swiftness:many-sessions";
constexpr int kLuns = 8;            // even ids: file, odd ids: Swift
constexpr int kSessionsPerLun = 8;  // 64 sessions
constexpr uint32_t kBlock = 4096;
constexpr uint64_t kLunBlocks = 16384;    // 64 MiB
constexpr uint64_t kRegionBlocks = 1024;  // 4 MiB per session, 32 MiB of each LUN
constexpr double kFairShare = 0.25;
constexpr uint64_t kRssGrowthBound = 48ull << 20;

std::string config(const SwiftAioEnv& env) {
  std::random_device rd;
  const std::string tag = std::to_string(rd()) + std::to_string(rd());
  std::string c = std::string("target:\n  iqn: ") + kIqn +
                  "\n  portals: [\"127.0.0.1:0\"]\n"
                  "swift:\n  auth_url: " +
                  env.auth_url + "\n  user: \"" + env.user + "\"\n  key: " + env.key +
                  "\ncache:\n  path: '@DIR@/cache'\n  size: 256MiB\n  shutdown_drain_s: 120\n"
                  "  max_dirty_age_s: 5\n"
                  "state_dir: '@DIR@/state'\n"
                  "luns:\n";
  for (int i = 0; i < kLuns; ++i) {
    const std::string id = std::to_string(i);
    if (i % 2 == 0) {
      c += "  - {id: " + id + ", name: f" + id + ", backend: file, path: '@DIR@/f" + id +
           ".img', size: 64MiB, block_size: 4096}\n";
    } else {
      c += "  - {id: " + id + ", name: s" + id + ", backend: swift, container: it-many-" + tag +
           "-" + id + ", size: 64MiB, block_size: 4096, chunk_size: 1MiB}\n";
    }
  }
  return c;
}

uint64_t vm_rss_bytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) << 10;
  }
  return 0;
}

struct SessionResult {
  int lun = 0;
  uint64_t ops = 0, reads = 0, writes = 0, syncs = 0;
  std::string error;  // first failure (command, mismatch); empty if none
};

// One session: its own thread, its own region, its own record of what each block must hold
// (the seed of the last write that covered it; 0: never written, reads as zeros).
class Worker {
 public:
  Worker(std::string url, int lun, int index, uint64_t first_block)
      : url_(std::move(url)), first_(first_block), expect_(kRegionBlocks, 0) {
    result_.lun = lun;
    index_ = index;
  }

  void run(std::chrono::steady_clock::time_point until, const std::atomic<bool>& abort) {
    swiftness::bench::ConnectOptions o;
    o.url = url_;
    o.initiator_name = "iqn.2026-11.io.swiftness:soak-" + std::to_string(index_);
    o.timeout_s = 30;
    std::string err;
    session_ = IscsiSession::connect(o, &err);
    if (!session_) {
      result_.error = "login: " + err;
      return;
    }
    std::mt19937_64 rng(0x5eed0000u + unsigned(index_));
    const uint32_t sizes[] = {1, 4, 16};  // blocks: 4, 16, 64 KiB
    while (std::chrono::steady_clock::now() < until && !abort.load() && result_.error.empty()) {
      const uint32_t n = sizes[rng() % 3];
      const uint64_t off = rng() % (kRegionBlocks - n + 1);
      const unsigned pick = unsigned(rng() % 100);
      if (pick < 45) {
        write(off, n, rng() % 8 == 0);
      } else if (pick < 95) {
        read_check(off, n);
      } else {
        sync();
      }
      ++result_.ops;
    }
    if (result_.error.empty()) read_check(0, kRegionBlocks, /*count=*/false);
    std::string ignored;
    session_->logout(&ignored);
    session_.reset();
  }

  const SessionResult& result() const { return result_; }

 private:
  void write(uint64_t off, uint32_t n, bool fua) {
    const uint64_t seed = (uint64_t(index_ + 1) << 32) | ++writes_;
    std::vector<std::byte> buf(size_t(n) * kBlock);
    BlockPattern(seed, kBlock).fill(first_ + off, buf);
    scsi_task* t = iscsi_write16_sync(session_->ctx(), result_.lun, first_ + off,
                                      reinterpret_cast<unsigned char*>(buf.data()),
                                      uint32_t(buf.size()), kBlock, 0, 0, fua, 0, 0);
    if (!check(t, "WRITE (16)", off, n)) return;
    std::fill(expect_.begin() + off, expect_.begin() + off + n, seed);
    ++result_.writes;
  }

  void read_check(uint64_t off, uint32_t n, bool count = true) {
    // The final pass reads the whole region in 64-block commands.
    for (uint64_t at = off; at < off + n && result_.error.empty();) {
      const uint32_t len = uint32_t(std::min<uint64_t>(64, off + n - at));
      scsi_task* t = iscsi_read16_sync(session_->ctx(), result_.lun, first_ + at, len * kBlock,
                                       kBlock, 0, 0, 0, 0, 0);
      if (!check(t, "READ (16)", at, len, /*keep=*/true)) return;
      if (t->datain.size != int(len * kBlock)) {
        result_.error = "short read";
        scsi_free_scsi_task(t);
        return;
      }
      const auto* data = reinterpret_cast<const std::byte*>(t->datain.data);
      for (uint32_t b = 0; b < len && result_.error.empty(); ++b) {
        std::span<const std::byte> blk(data + size_t(b) * kBlock, kBlock);
        const uint64_t seed = expect_[at + b];
        const uint64_t lba = first_ + at + b;
        bool ok = false;
        std::string what;
        if (seed == 0) {
          ok = std::all_of(blk.begin(), blk.end(), [](std::byte x) { return x == std::byte{0}; });
          what = "expected zeros (never written)";
        } else {
          BlockPattern p(seed, kBlock);
          ok = p.verify(lba, blk, nullptr, &what) == 0;
        }
        if (!ok) {
          result_.error = "LUN " + std::to_string(result_.lun) + " LBA " + std::to_string(lba) +
                          " does not hold the session's last write (seed " + std::to_string(seed) +
                          "): " + what;
        }
      }
      scsi_free_scsi_task(t);
      at += len;
    }
    if (count) ++result_.reads;
  }

  void sync() {
    scsi_task* t = iscsi_synchronizecache16_sync(session_->ctx(), result_.lun, 0, 0, 0, 0);
    if (check(t, "SYNCHRONIZE CACHE (16)", 0, 0)) ++result_.syncs;
  }

  // True if the command succeeded; frees the task unless `keep`.
  bool check(scsi_task* t, const char* what, uint64_t off, uint32_t n, bool keep = false) {
    if (t && t->status == SCSI_STATUS_GOOD) {
      if (!keep) scsi_free_scsi_task(t);
      return true;
    }
    result_.error = std::string(what) + " LUN " + std::to_string(result_.lun) + " LBA " +
                    std::to_string(first_ + off) + " blocks " + std::to_string(n) + ": " +
                    swiftness::bench::describe_failure(session_->ctx(), t ? t->status : -1, t);
    if (t) scsi_free_scsi_task(t);
    return false;
  }

  std::string url_;
  int index_ = 0;
  uint64_t first_;
  std::vector<uint64_t> expect_;
  uint64_t writes_ = 0;
  std::unique_ptr<IscsiSession> session_;
  SessionResult result_;
};

int soak_seconds() {
  const char* s = std::getenv("SWIFTNESS_SOAK_SECONDS");
  int v = s ? std::atoi(s) : 300;
  return std::clamp(v, 10, 3600);
}

}  // namespace

TEST(ManySessions, SixtyFourSessionsOnEightLunsStayCorrectFairAndFlat) {
  auto env = swift_aio_env();
  ASSERT_TRUE(env) << "the swift_aio fixture did not leave its environment file";
  TempDir dir;
  Daemon d(dir.path(), config(*env));
  ASSERT_TRUE(d.start(90s)) << d.log();

  const int seconds = soak_seconds();
  const auto start = std::chrono::steady_clock::now();
  const auto until = start + std::chrono::seconds(seconds);
  std::atomic<bool> abort{false};
  std::vector<std::unique_ptr<Worker>> workers;
  for (int lun = 0; lun < kLuns; ++lun) {
    for (int k = 0; k < kSessionsPerLun; ++k) {
      const int index = lun * kSessionsPerLun + k;
      workers.push_back(
          std::make_unique<Worker>(d.url(kIqn, lun), lun, index, uint64_t(k) * kRegionBlocks));
    }
  }
  std::vector<std::thread> threads;
  for (auto& w : workers)
    threads.emplace_back([&w, until, &abort] { w->run(until, abort); });

  // VmRSS every 5 s while the load runs (bounded by the deadline plus the final read-back).
  const auto warmup = std::chrono::seconds(std::min(60, seconds / 4));
  std::vector<std::pair<double, uint64_t>> rss;  // (seconds since start, bytes)
  while (std::chrono::steady_clock::now() < until + 120s) {
    const double t =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const uint64_t b = vm_rss_bytes(d.pid());
    if (b == 0) {
      abort = true;  // the daemon is gone
      break;
    }
    rss.emplace_back(t, b);
    if (std::chrono::steady_clock::now() >= until) break;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        5s, until - std::chrono::steady_clock::now()));
  }
  for (auto& t : threads)
    t.join();

  // Integrity and errors.
  uint64_t total_ops = 0;
  for (auto& w : workers) {
    EXPECT_TRUE(w->result().error.empty()) << w->result().error;
    total_ops += w->result().ops;
  }
  // Fairness, per kind of LUN.
  for (int kind = 0; kind < 2; ++kind) {
    uint64_t sum = 0, n = 0, lo = UINT64_MAX, hi = 0;
    for (auto& w : workers) {
      if (w->result().lun % 2 != kind) continue;
      sum += w->result().ops;
      ++n;
      lo = std::min(lo, w->result().ops);
      hi = std::max(hi, w->result().ops);
    }
    const double avg = double(sum) / double(n);
    std::printf("%s LUNs: %llu sessions, ops per session min %llu avg %.0f max %llu\n",
                kind == 0 ? "file" : "swift", (unsigned long long)n, (unsigned long long)lo, avg,
                (unsigned long long)hi);
    for (auto& w : workers) {
      if (w->result().lun % 2 != kind) continue;
      EXPECT_GE(double(w->result().ops), kFairShare * avg)
          << "session on LUN " << w->result().lun << " starved: " << w->result().ops
          << " ops, average " << avg;
    }
  }
  // Memory after the warm-up.
  uint64_t base = 0, peak = 0, last = 0;
  for (auto& [t, b] : rss) {
    if (t < double(warmup.count())) continue;
    if (base == 0) base = b;
    peak = std::max(peak, b);
    last = b;
  }
  std::printf(
      "%d s, %llu ops (%.0f/s), VmRSS first %.1f MiB, after warm-up %.1f MiB, peak %.1f "
      "MiB, last %.1f MiB (%zu samples)\n",
      seconds, (unsigned long long)total_ops, double(total_ops) / seconds,
      rss.empty() ? 0.0 : double(rss.front().second) / (1 << 20), double(base) / (1 << 20),
      double(peak) / (1 << 20), double(last) / (1 << 20), rss.size());
  std::string curve;  // every sixth sample: about every 30 s
  for (size_t i = 0; i < rss.size(); i += 6) {
    char b[48];
    std::snprintf(b, sizeof b, " %.0fs:%.1f", rss[i].first, double(rss[i].second) / (1 << 20));
    curve += b;
  }
  std::printf("VmRSS MiB over time:%s\n", curve.c_str());
  ASSERT_GT(base, 0u) << "no VmRSS sample after the warm-up";
  EXPECT_LT(peak - base, kRssGrowthBound) << "daemon memory grew under steady load";
  EXPECT_GT(total_ops, uint64_t(kLuns * kSessionsPerLun));
  EXPECT_EQ(d.stop(180s), 0) << d.log();
}
