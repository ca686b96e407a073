// PUT and GET of N parallel streams of 4 MiB objects through swift::SwiftStore, and the same
// workload through curl (one process per stream, keep-alive within it) against the same Swift in
// the same run. Prints MiB/s and CPU seconds per GiB for both (issue 4, "Benchmark").
//
//   swift_bench --auth-url http://127.0.0.1:PORT/auth/v1.0 [--user test:tester] [--key testing]
//               [--streams 8] [--objects 8] [--size-mib 4] [--rounds 1] [--threads 1]
//               [--md5 on|off]
//
// The client's CPU is this process's (getrusage); curl's is its children's (wait4). With
// --md5 on (the default) the client hashes every PUT body (ETag = MD5) and verifies every GET;
// curl is handed the ETag precomputed and does not verify, so the MD5 cost is printed on its own
// line too. --md5 off is the client as the cache uses it: the ETag comes with the PUT (the cache
// computes it with its CRC32Cs) and GETs skip the MD5 (the cache checks CRC32C itself).
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "swift/md5.hpp"
#include "swift/swift_store.hpp"

extern char** environ;

namespace {

namespace asio = boost::asio;
using namespace swiftness;
using Clock = std::chrono::steady_clock;

struct Args {
  std::string auth_url, user, key;
  int streams = 8, objects = 8, size_mib = 4, rounds = 1, threads = 1;
  std::string md5 = "on";
};

double cpu_seconds(int who) {
  rusage u{};
  getrusage(who, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Measure {
  double seconds = 0, cpu = 0, bytes = 0;
  double mib_s() const { return bytes / (1 << 20) / seconds; }
  double cpu_per_gib() const { return cpu / (bytes / (1 << 30)); }
};

void print(const char* what, const Measure& m) {
  std::printf("%-12s %8.1f MiB/s   %6.2f CPU s/GiB   (%.0f MiB in %.2f s, %.2f CPU s)\n", what,
              m.mib_s(), m.cpu_per_gib(), m.bytes / (1 << 20), m.seconds, m.cpu);
}

// One curl process per stream, all at once; CPU from wait4 of each child.
Measure curl_phase(const Args& a, const std::vector<std::vector<std::string>>& argvs) {
  const auto t0 = Clock::now();
  std::vector<pid_t> pids;
  for (const auto& args : argvs) {
    std::vector<char*> argv;
    for (const auto& s : args)
      argv.push_back(const_cast<char*>(s.c_str()));
    argv.push_back(nullptr);
    pid_t pid = 0;
    if (posix_spawnp(&pid, "curl", nullptr, nullptr, argv.data(), environ) != 0) {
      std::perror("posix_spawnp curl");
      std::exit(1);
    }
    pids.push_back(pid);
  }
  Measure m;
  for (pid_t pid : pids) {
    int status = 0;
    rusage u{};
    wait4(pid, &status, 0, &u);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "curl exited with %d\n", WEXITSTATUS(status));
      std::exit(1);
    }
    m.cpu += static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
             static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  }
  m.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  m.bytes = double(a.streams) * a.objects * a.size_mib * (1 << 20);
  return m;
}

// TempAuth v1 with curl: token and storage URL for the curl runs.
std::pair<std::string, std::string> curl_auth(const Args& a) {
  const std::string cmd = "curl -sf -D - -o /dev/null -H 'X-Auth-User: " + a.user +
                          "' -H 'X-Auth-Key: " + a.key + "' '" + a.auth_url + "'";
  FILE* p = popen(cmd.c_str(), "r");
  std::string token, url;
  char line[4096];
  while (p != nullptr && std::fgets(line, sizeof line, p) != nullptr) {
    std::string l(line);
    while (!l.empty() && (l.back() == '\n' || l.back() == '\r'))
      l.pop_back();
    auto value = [&](const char* name) {
      const std::string n(name);
      if (l.size() > n.size() && strncasecmp(l.c_str(), n.c_str(), n.size()) == 0) {
        return l.substr(n.size());
      }
      return std::string();
    };
    if (auto v = value("X-Auth-Token: "); !v.empty()) token = v;
    if (auto v = value("X-Storage-Url: "); !v.empty()) url = v;
  }
  if (p != nullptr) pclose(p);
  return {token, url};
}

template <class T>
T run_one(asio::io_context& ctx, asio::awaitable<T> a) {
  std::optional<T> out;
  asio::co_spawn(
      ctx, [&]() -> asio::awaitable<void> { out.emplace(co_await std::move(a)); }, asio::detached);
  ctx.restart();
  ctx.run();
  return std::move(*out);
}

}  // namespace

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  Args a;
  po::options_description desc("swift_bench");
  desc.add_options()("help", "usage")("auth-url", po::value(&a.auth_url)->required(),
                                      "TempAuth URL")(
      "user", po::value(&a.user)->default_value("test:tester"), "account:user")(
      "key", po::value(&a.key)->default_value("testing"), "key")(
      "streams", po::value(&a.streams)->default_value(8), "parallel requests")(
      "objects", po::value(&a.objects)->default_value(8), "objects per stream")(
      "size-mib", po::value(&a.size_mib)->default_value(4), "object size")(
      "rounds", po::value(&a.rounds)->default_value(1), "client/curl rounds, interleaved")(
      "threads", po::value(&a.threads)->default_value(1), "client io_context threads")(
      "md5", po::value(&a.md5)->default_value("on"),
      "on: the client hashes PUTs and verifies GETs; off: ETag given, GETs unverified");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    if (vm.count("help") != 0) {
      std::cout << desc << "\n";
      return 0;
    }
    po::notify(vm);
    if (a.md5 != "on" && a.md5 != "off") throw po::error("--md5 takes on or off");
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n" << desc << "\n";
    return 2;
  }

  const std::size_t size = std::size_t(a.size_mib) << 20;
  std::vector<std::vector<std::byte>> bodies(a.streams);
  std::vector<std::string> etags(a.streams);
  const std::string tmp = std::getenv("TMPDIR") != nullptr ? std::getenv("TMPDIR") : "/tmp";
  std::vector<std::string> files(a.streams);
  std::mt19937_64 rng(42);
  for (int s = 0; s < a.streams; ++s) {
    bodies[s].resize(size);
    for (std::size_t i = 0; i < size; i += 8) {
      const uint64_t v = rng();
      std::memcpy(bodies[s].data() + i, &v, std::min<std::size_t>(8, size - i));
    }
    etags[s] = swift::Md5::hex_of(bodies[s]);
    files[s] = tmp + "/swift_bench_" + std::to_string(getpid()) + "_" + std::to_string(s);
    std::ofstream(files[s], std::ios::binary)
        .write(reinterpret_cast<const char*>(bodies[s].data()), std::streamsize(size));
  }
  // MD5 alone over one phase's bytes: the floor of the client's PUT (and GET) CPU.
  const double md5_cpu0 = cpu_seconds(RUSAGE_SELF);
  for (int s = 0; s < a.streams; ++s) {
    for (int o = 0; o < a.objects; ++o)
      (void)swift::Md5::hex_of(bodies[s]);
  }
  Measure md5;
  md5.cpu = cpu_seconds(RUSAGE_SELF) - md5_cpu0;
  md5.bytes = double(a.streams) * a.objects * size;

  swift::SwiftConfig cfg;
  cfg.auth_url = a.auth_url;
  cfg.user = a.user;
  cfg.key = a.key;
  cfg.max_connections_per_endpoint = std::size_t(a.streams);
  cfg.request_timeout = std::chrono::seconds(120);
  const std::string container = "bench-" + std::to_string(getpid());
  auto [token, storage] = curl_auth(a);
  if (token.empty() || storage.empty()) {
    std::fprintf(stderr, "curl auth at %s failed\n", a.auth_url.c_str());
    return 1;
  }

  std::printf("%d streams x %d objects x %d MiB, %d client thread(s), %d round(s), client MD5 %s\n",
              a.streams, a.objects, a.size_mib, a.threads, a.rounds, a.md5.c_str());
  std::printf("%-12s %8s %6.2f CPU s/GiB\n", "MD5 alone", "", md5.cpu_per_gib());
  for (int round = 0; round < a.rounds; ++round) {
    // The client phases use a fresh store per phase so connection set-up is counted.
    auto name = [&](const char* who, int s, int o) {
      return std::string(who) + "-r" + std::to_string(round) + "-s" + std::to_string(s) + "-o" +
             std::to_string(o);
    };
    asio::io_context ctx0;
    swift::SwiftStore admin(ctx0.get_executor(), cfg);
    if (auto r = run_one(ctx0, admin.create_container(container)); !r) {
      std::fprintf(stderr, "create container: %s\n", r.error().message().c_str());
      return 1;
    }
    std::atomic<int> failures{0};
    // One store per phase, authenticated before the clock starts; connection set-up is counted.
    auto client = [&](bool is_put) {
      asio::io_context ctx;
      swift::SwiftStore st(ctx.get_executor(), cfg);
      (void)run_one(ctx, st.authenticate());
      const double cpu0 = cpu_seconds(RUSAGE_SELF);
      const auto t0 = Clock::now();
      for (int s = 0; s < a.streams; ++s) {
        asio::co_spawn(
            ctx,
            [&, s]() -> asio::awaitable<void> {
              for (int o = 0; o < a.objects; ++o) {
                // Named arguments only: GCC 12 destroys temporaries in a co_await expression
                // twice (default arguments included).
                const core::ObjectKey key{container, name("client", s, o)};
                core::PutOptions put_opts;
                core::GetOptions get_opts;
                if (a.md5 == "off") {
                  put_opts.etag = etags[s];
                  get_opts.verify_etag = false;
                }
                const std::span<const std::byte> body(bodies[s]);
                if (is_put) {
                  auto r = co_await st.put(key, body, put_opts);
                  if (!r) ++failures;
                } else {
                  auto r = co_await st.get(key, get_opts);
                  if (!r || r->body.size() != size) ++failures;
                }
              }
            },
            asio::detached);
      }
      ctx.restart();
      std::vector<std::thread> pool;
      for (int t = 1; t < a.threads; ++t)
        pool.emplace_back([&] { ctx.run(); });
      ctx.run();
      for (auto& t : pool)
        t.join();
      Measure m;
      m.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      m.cpu = cpu_seconds(RUSAGE_SELF) - cpu0;
      m.bytes = double(a.streams) * a.objects * size;
      return m;
    };
    const Measure put = client(true);
    const Measure get = client(false);
    if (failures != 0) {
      std::fprintf(stderr, "%d client requests failed\n", failures.load());
      return 1;
    }

    std::vector<std::vector<std::string>> put_argv, get_argv;
    for (int s = 0; s < a.streams; ++s) {
      std::vector<std::string> p = {
          "curl", "-sf",      "-H", "X-Auth-Token: " + token, "-H", "ETag: " + etags[s],
          "-o",   "/dev/null"};
      std::vector<std::string> g = {"curl", "-sf", "-H", "X-Auth-Token: " + token};
      for (int o = 0; o < a.objects; ++o) {
        const std::string url = storage + "/" + container + "/" + name("curl", s, o);
        p.insert(p.end(), {"-T", files[s], url});
        g.insert(g.end(), {"-o", "/dev/null", url});
      }
      put_argv.push_back(p);
      get_argv.push_back(g);
    }
    const Measure curl_put = curl_phase(a, put_argv);
    const Measure curl_get = curl_phase(a, get_argv);

    std::printf("round %d\n", round + 1);
    print("client PUT", put);
    print("curl PUT", curl_put);
    print("client GET", get);
    print("curl GET", curl_get);

    // Clean up this round's objects and the container.
    std::vector<core::ObjectKey> keys;
    for (int s = 0; s < a.streams; ++s) {
      for (int o = 0; o < a.objects; ++o) {
        keys.push_back({container, name("client", s, o)});
        keys.push_back({container, name("curl", s, o)});
      }
    }
    (void)run_one(ctx0, admin.bulk_delete(keys));
    (void)run_one(ctx0, admin.delete_container(container));
  }
  for (const auto& f : files)
    std::remove(f.c_str());
  return 0;
}
