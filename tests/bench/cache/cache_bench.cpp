// Hot-cache cost of CachedLun against a file-backed LUN (storage::FileBlockDevice) on the same
// disk, same io_context and blocking pool (issue 5 benchmark, first part): 4 KiB random
// read/write at QD 1 and 32, 1 MiB sequential read/write at QD 4. Swift is not involved in a
// hot cache hit, so the object store is in memory here; the Swift-side figures (cold read,
// drain) need the real Swift and are not measured by this tool.
//
//   cache-bench [--dir DIR] [--seconds N] [--size-mib N]
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cache/cached_lun.hpp"
#include "core/memory_object_store.hpp"
#include "target/storage/file_block_device.hpp"

namespace asio = boost::asio;
using namespace swiftness;

namespace {

struct Job {
  const char* name;
  uint32_t block_bytes;
  bool write;
  bool random;
  unsigned qd;
};

// Runs `qd` coroutines issuing I/O back to back for `seconds`; returns operations per second.
double run_job(asio::io_context& io, core::BlockDevice& dev, const Job& job, double seconds) {
  const auto geo = dev.geometry();
  const uint64_t blocks_per_io = job.block_bytes / geo.block_size;
  const uint64_t slots = geo.block_count / blocks_per_io;
  std::atomic<uint64_t> ops{0};
  std::atomic<uint64_t> errors{0};
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(seconds));
  std::atomic<uint64_t> seq{0};
  auto worker = [&](unsigned id) -> asio::awaitable<void> {
    std::mt19937_64 rng(id * 7919 + 1);
    std::vector<std::byte> buf(job.block_bytes, std::byte(id));
    while (std::chrono::steady_clock::now() < deadline) {
      uint64_t slot = job.random ? rng() % slots : seq.fetch_add(1) % slots;
      core::Lba lba = slot * blocks_per_io;
      auto r = job.write ? co_await dev.write(lba, buf, {}) : co_await dev.read(lba, buf);
      if (!r) ++errors;
      ++ops;
    }
  };
  std::vector<std::future<void>> futs;
  auto t0 = std::chrono::steady_clock::now();
  for (unsigned i = 0; i < job.qd; ++i)
    futs.push_back(asio::co_spawn(io, worker(i), asio::use_future));
  for (auto& f : futs)
    f.get();
  double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (errors) std::fprintf(stderr, "%s: %lu errors\n", job.name, (unsigned long)errors.load());
  return double(ops.load()) / dt;
}

long rss_kib() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kib = -1;
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "VmRSS:", 6) == 0) kib = std::atol(line + 6);
  }
  std::fclose(f);
  return kib;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
  double seconds = 3;
  uint64_t size_mib = 512;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--dir") dir = argv[i + 1];
    if (a == "--seconds") seconds = std::atof(argv[i + 1]);
    if (a == "--size-mib") size_mib = std::strtoull(argv[i + 1], nullptr, 10);
  }
  std::string tmpl = dir + "/cache-bench-XXXXXX";
  if (!mkdtemp(tmpl.data())) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::filesystem::path work = tmpl;

  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&] { io.run(); });
  asio::thread_pool pool(4);

  storage::FileBlockDeviceOptions fo;
  fo.path = (work / "file-lun").string();
  fo.size_bytes = size_mib << 20;
  fo.block_size = 4096;
  fo.thin = false;
  auto file = storage::FileBlockDevice::open(fo, pool.get_executor());
  if (!file) {
    std::fprintf(stderr, "file LUN: %s\n", file.error().message().c_str());
    return 1;
  }

  auto store = std::make_shared<core::MemoryObjectStore>();
  cache::LunConfig lc;
  lc.container = "bench";
  lc.size_bytes = size_mib << 20;
  lc.block_size = 4096;
  cache::CacheConfig cc;
  cc.dir = work / "cache";
  cc.size_bytes = (size_mib << 20) * 2;  // the whole LUN stays hot
  cc.max_dirty_age = std::chrono::hours(1);
  cc.dirty_low_watermark = 0.99;
  cc.dirty_high_watermark = 0.999;
  auto opened =
      asio::co_spawn(io,
                     cache::CachedLun::open(io.get_executor(), pool.get_executor(), store, lc, cc),
                     asio::use_future)
          .get();
  if (!opened) {
    std::fprintf(stderr, "cached LUN: %s\n", opened.error().message().c_str());
    return 1;
  }
  auto lun = *opened;

  // Warm both: every block written once (the cache then holds the whole LUN).
  for (core::BlockDevice* dev :
       {static_cast<core::BlockDevice*>(file->get()), static_cast<core::BlockDevice*>(lun.get())}) {
    std::vector<std::byte> buf(1u << 20, std::byte{1});
    for (uint64_t off = 0; off < (size_mib << 20); off += buf.size()) {
      asio::co_spawn(io, dev->write(off / 4096, buf, {}), asio::use_future).get().value();
    }
  }

  const Job jobs[] = {
      {"4k randread  qd1", 4096, false, true, 1},
      {"4k randread  qd32", 4096, false, true, 32},
      {"4k randwrite qd1", 4096, true, true, 1},
      {"4k randwrite qd32", 4096, true, true, 32},
      {"1m seqread   qd4", 1u << 20, false, false, 4},
      {"1m seqwrite  qd4", 1u << 20, true, false, 4},
  };
  std::printf("%-20s %14s %14s %8s\n", "job", "file LUN", "cached LUN", "ratio");
  for (const Job& j : jobs) {
    double f = run_job(io, **file, j, seconds);
    double c = run_job(io, *lun, j, seconds);
    const char* unit = j.block_bytes >= (1u << 20) ? "MiB/s" : "IOPS";
    double scale = j.block_bytes >= (1u << 20) ? double(j.block_bytes) / (1 << 20) : 1.0;
    std::printf("%-20s %8.0f %-5s %8.0f %-5s %7.2f\n", j.name, f * scale, unit, c * scale, unit,
                c / f);
  }
  auto st = lun->stats();
  std::printf("cached LUN: %lu checkpoints, %lu dirty blocks, RSS %ld KiB\n",
              (unsigned long)st.checkpoints, (unsigned long)st.dirty_blocks, rss_kib());
  asio::co_spawn(io, lun->close(), asio::use_future).get();
  lun.reset();
  file->reset();
  guard.reset();
  for (auto& t : threads)
    t.join();
  pool.join();
  std::error_code ec;
  std::filesystem::remove_all(work, ec);
  return 0;
}
