// Hot-cache cost of CachedLun against a file-backed LUN (storage::FileBlockDevice) on the same
// disk, same io_context and blocking pool (issue 5 benchmark, first part): 4 KiB random
// read/write at QD 1 and 32, 1 MiB sequential read/write at QD 4. Swift is not involved in a
// hot cache hit, so the object store is in memory here; the Swift-side figures (cold read,
// drain) need the real Swift and are not measured by this tool.
//
//   cache-bench [--dir DIR] [--seconds N] [--size-mib N] [--direct on|off] [--swift-env FILE]
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
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cache/cached_lun.hpp"
#include "core/memory_object_store.hpp"
#include "swift/swift_store.hpp"
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

template <class T>
T wait(asio::io_context& io, asio::awaitable<T> aw) {
  return asio::co_spawn(io, std::move(aw), asio::use_future).get();
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The Swift side (issue 5 benchmark, second part), against a running Swift described by an env
// file of the swift_aio fixture: raw parallel 4 MiB PUT/GET throughput, then the same volume
// written through a CachedLun, restart with it all dirty, drain, and a cold sequential read.
int swift_bench(asio::io_context& io, asio::thread_pool& pool, const std::string& env_file,
                const std::filesystem::path& work, uint64_t size_mib, int read_ahead) {
  std::map<std::string, std::string> env;
  std::ifstream in(env_file);
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  swift::SwiftConfig sc;
  sc.auth_url = env["SWIFT_AUTH_URL"];
  sc.user = env["SWIFT_USER"];
  sc.key = env["SWIFT_KEY"];
  auto store = std::make_shared<swift::SwiftStore>(io.get_executor(), sc);
  const std::string raw = "bench-raw-" + work.filename().string();
  if (!wait(io, store->create_container(raw, {}))) {
    std::fprintf(stderr, "cannot reach Swift at %s\n", sc.auth_url.c_str());
    return 1;
  }
  const uint64_t objects = size_mib / 4;
  std::vector<std::byte> body(4u << 20);
  std::mt19937_64 rng(1);
  for (size_t i = 0; i < body.size(); i += 8) {
    uint64_t v = rng();
    std::memcpy(body.data() + i, &v, 8);
  }
  constexpr unsigned kParallel = 8;
  auto parallel = [&](bool put) {
    std::atomic<uint64_t> next{0};
    auto worker = [&]() -> asio::awaitable<void> {
      for (uint64_t i; (i = next++) < objects;) {
        const core::ObjectKey key{raw, "obj" + std::to_string(i)};
        const core::PutOptions po;
        const core::GetOptions go;
        if (put) {
          (void)co_await store->put(key, body, po);
        } else {
          (void)co_await store->get(key, go);
        }
      }
    };
    std::vector<std::future<void>> f;
    auto t0 = std::chrono::steady_clock::now();
    for (unsigned i = 0; i < kParallel; ++i)
      f.push_back(asio::co_spawn(io, worker(), asio::use_future));
    for (auto& x : f)
      x.get();
    return double(objects * 4) / seconds_since(t0);
  };
  const double raw_put = parallel(true);
  const double raw_get = parallel(false);

  cache::LunConfig lc;
  lc.container = "bench-lun-" + work.filename().string();
  lc.size_bytes = size_mib << 20;
  lc.block_size = 4096;
  cache::CacheConfig cc;
  cc.dir = work / "swift-cache";
  cc.size_bytes = (size_mib << 20) * 2;
  cc.max_dirty_age = std::chrono::hours(1);
  cc.dirty_low_watermark = 0.99;
  cc.dirty_high_watermark = 0.999;
  cc.flush_concurrency = kParallel;
  auto lun =
      wait(io, cache::CachedLun::open(io.get_executor(), pool.get_executor(), store, lc, cc));
  if (!lun) return 1;
  std::vector<std::byte> mib(1u << 20);
  for (uint64_t off = 0; off < (size_mib << 20); off += mib.size()) {
    std::memcpy(mib.data(), body.data() + (off % (3u << 20)), mib.size());  // incompressible
    std::memcpy(mib.data(), &off, 8);
    (void)wait(io, (*lun)->write(off / 4096, mib, {}));
  }
  wait(io, (*lun)->abandon());  // as kill -9: no final checkpoint, the journal is replayed
  lun->reset();
  auto t0 = std::chrono::steady_clock::now();
  lun = wait(io, cache::CachedLun::open(io.get_executor(), pool.get_executor(), store, lc, cc));
  const double restart = seconds_since(t0);
  if (!lun) return 1;
  const uint64_t dirty = (*lun)->stats().dirty_blocks;
  t0 = std::chrono::steady_clock::now();
  auto drained = wait(io, (*lun)->drain(std::chrono::minutes(10)));
  const double drain = double(size_mib) / seconds_since(t0);
  wait(io, (*lun)->close());
  lun->reset();

  cc.dir = work / "swift-cache-cold";
  if (read_ahead >= 0) cc.read_ahead_chunks = unsigned(read_ahead);
  lun = wait(io, cache::CachedLun::open(io.get_executor(), pool.get_executor(), store, lc, cc));
  if (!lun) return 1;
  t0 = std::chrono::steady_clock::now();
  for (uint64_t off = 0; off < (size_mib << 20); off += mib.size()) {
    (void)wait(io, (*lun)->read(off / 4096, mib));
  }
  const double cold = double(size_mib) / seconds_since(t0);
  // Read again twice: first from the cache file as the fills left it (written around the page
  // cache, so from the disk), then with those pages in the page cache.
  double again[2] = {0, 0};
  for (double& rate : again) {
    t0 = std::chrono::steady_clock::now();
    for (uint64_t off = 0; off < (size_mib << 20); off += mib.size()) {
      (void)wait(io, (*lun)->read(off / 4096, mib));
    }
    rate = double(size_mib) / seconds_since(t0);
  }
  wait(io, (*lun)->close());

  std::printf("\nSwift (%lu MiB, %u in parallel, 4 MiB chunks)\n", (unsigned long)size_mib,
              kParallel);
  std::printf("raw PUT %8.1f MiB/s   drain %8.1f MiB/s (%.2f)%s\n", raw_put, drain, drain / raw_put,
              drained ? "" : "  DRAIN FAILED");
  std::printf(
      "raw GET %8.1f MiB/s   cold sequential read (1 MiB, QD1 + read-ahead %u) %8.1f MiB/s "
      "(%.2f)\n",
      raw_get, cc.read_ahead_chunks, cold, cold / raw_get);
  std::printf("read again after the cold read: %.1f MiB/s (fills: cache file), then %.1f MiB/s\n",
              again[0], again[1]);
  std::printf("restart to serving with %lu MiB dirty: %.3f s\n",
              (unsigned long)(dirty * 4096 >> 20), restart);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
  double seconds = 3;
  uint64_t size_mib = 512;
  bool direct = false;
  std::string swift_env;
  int read_ahead = -1;  // chunks of read-ahead for the cold read; -1: the default
  bool hot = true;      // the hot-cache jobs (off: only the Swift side)
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--dir") dir = argv[i + 1];
    if (a == "--seconds") seconds = std::atof(argv[i + 1]);
    if (a == "--size-mib") size_mib = std::strtoull(argv[i + 1], nullptr, 10);
    if (a == "--direct") direct = std::string(argv[i + 1]) == "on";
    if (a == "--swift-env") swift_env = argv[i + 1];
    if (a == "--read-ahead") read_ahead = std::atoi(argv[i + 1]);
    if (a == "--hot") hot = std::string(argv[i + 1]) != "off";
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
  cc.direct_writes = direct;
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
  if (hot) std::printf("%-20s %14s %14s %8s\n", "job", "file LUN", "cached LUN", "ratio");
  for (const Job& j : jobs) {
    if (!hot) break;
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
  int rc = 0;
  if (!swift_env.empty())
    rc = swift_bench(io, pool, swift_env, work, std::min<uint64_t>(size_mib, 256), read_ahead);
  guard.reset();
  for (auto& t : threads)
    t.join();
  pool.join();
  std::error_code ec;
  std::filesystem::remove_all(work, ec);
  return rc;
}
