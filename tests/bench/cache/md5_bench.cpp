// md5-bench: MD5 throughput of 4 MiB chunks, OpenSSL (one stream) vs core/md5_lanes.hpp with 1,
// 2, 4 and 8 lanes, SIMD and plain kernels. Reports GB/s of content hashed per core (CPU time
// of this thread), which is what the drain pays per GiB uploaded (README.md).
#include <openssl/evp.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>
#include <vector>

#include "core/md5_lanes.hpp"

namespace core = swiftness::core;

namespace {

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

// Hashes `lanes` chunks per call until ~`min_s` CPU seconds pass; GB/s of content per CPU s.
template <class F>
double measure(size_t bytes_per_call, F f, double min_s = 0.5) {
  f();  // warm-up
  const double t0 = thread_cpu_s();
  size_t done = 0;
  double t = t0;
  for (int i = 0; i < 100000 && t - t0 < min_s; ++i) {
    f();
    done += bytes_per_call;
    t = thread_cpu_s();
  }
  return double(done) / (t - t0) / 1e9;
}

}  // namespace

int main() {
  constexpr size_t kChunk = 4 << 20;
  std::vector<std::vector<std::byte>> data(core::kMd5MaxLanes, std::vector<std::byte>(kChunk));
  std::mt19937 rng(1);
  for (auto& d : data)
    for (auto& b : d)
      b = std::byte(rng());
  volatile unsigned sink = 0;
  const double ossl = measure(kChunk, [&] {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data[0].data(), kChunk, md, &len, EVP_md5(), nullptr);
    sink = sink + md[0];
  });
  std::printf("openssl   1 lane : %.3f GB/s per core\n", ossl);
  for (bool simd : {true, false}) {
    core::md5_lanes_set_simd(simd);
    for (size_t lanes : {1, 2, 4, 8}) {
      std::vector<std::span<const std::byte>> msgs(data.begin(), data.begin() + long(lanes));
      std::vector<core::Md5Digest> out(lanes);
      const double gbs = measure(kChunk * lanes, [&] {
        core::md5_many(msgs, out);
        sink = sink + out[0][0];
      });
      std::printf("%-6s %2zu lanes: %.3f GB/s per core (%.2fx openssl)\n",
                  simd ? core::md5_lanes_kernel() : "plain", lanes, gbs, gbs / ossl);
    }
  }
  return 0;
}
