// The admin endpoint and the CLI against the real daemon and the real Swift of the swift_aio
// fixture: /metrics scraped while libiscsi load runs, /status as JSON, `cache drain` to
// completion, `lun import`/`lun export` of a 256 MiB image through Swift, configuration edits,
// socket permissions and loopback-only TCP, and no secret anywhere.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <thread>

#include "tests/integration/admin/admin_client.hpp"
#include "tests/integration/support/process.hpp"
#include "tests/integration/swift/swift_aio_env.hpp"

using namespace swiftness::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

constexpr const char* kIqn = "iqn.2026-11.io.swiftness:admin-it";
constexpr const char* kChapSecret = "Xq7chapSecret9";

std::string unique_container(const std::string& what) {
  std::random_device rd;
  return "it-admin-" + what + "-" + std::to_string(rd()) + std::to_string(rd());
}

struct Options {
  std::string container;
  std::string lun_size = "256MiB";
  std::string cache_size = "512MiB";
  std::string extra;  // more top-level YAML (admin:)
  bool chap = false;
  int max_dirty_age_s = 30;
};

std::string config(const SwiftAioEnv& env, const Options& o) {
  std::string y = std::string("target:\n  iqn: ") + kIqn + "\n  portals: [\"127.0.0.1:0\"]\n";
  if (o.chap) y += std::string("  chap: {user: alice, secret: ") + kChapSecret + "}\n";
  y += "swift:\n  auth_url: " + env.auth_url + "\n  user: \"" + env.user + "\"\n  key: " + env.key +
       "\ncache:\n  path: '@DIR@/cache'\n  size: " + o.cache_size +
       "\n  dirty_high_watermark: 90\n  max_dirty_age_s: " + std::to_string(o.max_dirty_age_s) +
       "\n  shutdown_drain_s: 60\nstate_dir: '@DIR@/state'\n" + o.extra +
       "luns:\n  - {id: 0, name: vol, backend: swift, container: " + o.container +
       ", size: " + o.lun_size + ", chunk_size: 4MiB}\n";
  return y;
}

std::string socket_of(const Daemon& d) {
  return (d.dir() / "state" / "admin.sock").string();
}

json::value status(const Daemon& d) {
  auto r = unix_http(socket_of(d), "GET", "/status");
  if (!r || r->status != 200) return {};
  return json::parse(r->body);
}

std::string jstr(const json::value& v) {
  return v.is_string() ? std::string(v.as_string()) : std::string();
}

uint64_t lun_field(const json::value& st, const char* key) {
  return json::value_to<uint64_t>(st.at("luns").at(0).at(key));
}

Scrape scrape(const Daemon& d, std::string* raw = nullptr) {
  auto r = unix_http(socket_of(d), "GET", "/metrics");
  if (!r || r->status != 200) return {};
  if (raw) *raw = r->body;
  return parse_prometheus(r->body);
}

std::string sha256(const fs::path& p) {
  auto r = run({"sha256sum", p.string()}, 60s);
  return r.output.substr(0, 64);
}

CommandResult cli(std::vector<std::string> args, std::chrono::seconds t = 120s) {
  args.insert(args.begin(), swiftness_binary());
  return run(args, t);
}

// Checks the histogram invariants of one labelled series: cumulative buckets never decrease,
// +Inf equals _count.
void expect_consistent_histogram(const Scrape& s, const std::string& name,
                                 const std::map<std::string, std::string>& labels) {
  std::vector<std::pair<double, double>> buckets;
  for (const auto& x : s.samples) {
    if (x.name != name + "_bucket") continue;
    bool ok = true;
    for (const auto& [k, v] : labels)
      ok &= x.labels.count(k) && x.labels.at(k) == v;
    if (!ok) continue;
    buckets.emplace_back(x.labels.at("le") == "+Inf" ? 1e308 : std::stod(x.labels.at("le")),
                         x.value);
  }
  ASSERT_GT(buckets.size(), 2u) << name;
  for (size_t i = 1; i < buckets.size(); ++i) {
    EXPECT_LT(buckets[i - 1].first, buckets[i].first) << name << ": bounds in order";
    EXPECT_LE(buckets[i - 1].second, buckets[i].second) << name << ": cumulative";
  }
  EXPECT_EQ(buckets.back().first, 1e308) << name << ": last bucket is +Inf";
  EXPECT_EQ(buckets.back().second, s.sum(name + "_count", labels)) << name;
  EXPECT_GE(s.sum(name + "_sum", labels), 0) << name;
}

}  // namespace

// ~25 s: 6 s of mixed random load at QD 8, scraped during and after, then a drain.
TEST(Admin, MetricsScrapedWhileLoadRuns) {
  auto env = swift_aio_env();
  ASSERT_TRUE(env) << "the swift_aio fixture did not leave its environment file";
  TempDir dir;
  Options o;
  o.container = unique_container("metrics");
  o.chap = true;
  Daemon d(dir.path(), config(*env, o));
  ASSERT_TRUE(d.start(60s)) << d.log();

  // A login that fails (unknown target) must be counted as failed.
  auto bad = run({"iscsi-inq", "iscsi://127.0.0.1:" + std::to_string(d.port()) +
                                   "/iqn.2026-11.io.swiftness:nosuch/0"},
                 30s);
  EXPECT_NE(bad.exit_code, 0) << bad.output;

  const Scrape before = scrape(d);
  ASSERT_TRUE(before.errors.empty()) << before.errors.front();
  ASSERT_TRUE(before.has("swiftness_lun_commands_total"));
  const std::map<std::string, std::string> rd{{"lun", "0"}, {"op", "read"}};
  const std::map<std::string, std::string> wr{{"lun", "0"}, {"op", "write"}};

  // Random 4 KiB writes and reads at the same time, 6 s each, 4 in flight each.
  const std::string url = d.url(kIqn, 0, std::string("alice%") + kChapSecret);
  auto load_w = std::async(std::launch::async, [&] {
    return run({loadgen_binary(), "--rw", "randwrite", "--bs", "4k", "--qd", "4", "--duration", "6",
                "--range", "0:32768", url},
               90s);
  });
  auto load_r = std::async(std::launch::async, [&] {
    return run({loadgen_binary(), "--rw", "randread", "--bs", "4k", "--qd", "4", "--duration", "6",
                "--range", "32768:32768", url},
               90s);
  });
  std::this_thread::sleep_for(3s);
  std::string mid_text;
  const Scrape mid = scrape(d, &mid_text);
  auto lg = load_w.get();
  auto lr = load_r.get();
  ASSERT_EQ(lr.exit_code, 0) << lr.output << d.log();
  ASSERT_EQ(lg.exit_code, 0) << lg.output << d.log();
  // Everything is uploaded: Swift PUTs must show in the request counts.
  auto drain = unix_http(socket_of(d), "POST", "/drain");
  ASSERT_TRUE(drain && drain->status == 202);
  for (int i = 0; i < 300; ++i) {
    auto st = status(d);
    if (!st.is_null() && jstr(st.at("luns").at(0).at("drain").at("state")) != "running") break;
    std::this_thread::sleep_for(100ms);
  }
  std::string after_text;
  const Scrape after = scrape(d, &after_text);
  ASSERT_TRUE(mid.errors.empty()) << mid.errors.front();
  ASSERT_TRUE(after.errors.empty()) << after.errors.front();

  // Counters increase under load, and keep increasing.
  EXPECT_GT(mid.sum("swiftness_lun_commands_total", wr),
            before.sum("swiftness_lun_commands_total", wr));
  EXPECT_GT(mid.sum("swiftness_lun_commands_total", rd),
            before.sum("swiftness_lun_commands_total", rd));
  EXPECT_GT(after.sum("swiftness_lun_commands_total", wr),
            mid.sum("swiftness_lun_commands_total", wr));
  EXPECT_GE(after.sum("swiftness_lun_bytes_total", wr),
            4096 * after.sum("swiftness_lun_commands_total", wr));
  EXPECT_GE(mid.sum("swiftness_iscsi_sessions"), 1) << "a session during load";
  EXPECT_GE(after.sum("swiftness_iscsi_logins_total", {{"result", "ok"}}), 1);
  EXPECT_GE(after.sum("swiftness_iscsi_logins_total", {{"result", "failed"}}), 1);
  // Histograms: consistent, and their count is the command count.
  for (const auto* labels : {&rd, &wr}) {
    expect_consistent_histogram(mid, "swiftness_lun_latency_seconds", *labels);
    expect_consistent_histogram(after, "swiftness_lun_latency_seconds", *labels);
    EXPECT_EQ(after.sum("swiftness_lun_latency_seconds_count", *labels),
              after.sum("swiftness_lun_commands_total", *labels));
  }
  expect_consistent_histogram(after, "swiftness_swift_request_duration_seconds", {});
  EXPECT_EQ(after.types.at("swiftness_lun_latency_seconds"), "histogram");
  EXPECT_EQ(after.types.at("swiftness_lun_commands_total"), "counter");
  EXPECT_EQ(after.types.at("swiftness_cache_dirty_bytes"), "gauge");
  // Swift requests by verb and status: chunk uploads are 201 PUTs.
  EXPECT_GT(after.sum("swiftness_swift_requests_total", {{"method", "PUT"}, {"code", "201"}}), 0)
      << after_text;
  EXPECT_GT(after.sum("swiftness_swift_requests_total", {{"class", "2xx"}}), 0);
  EXPECT_GT(after.sum("swiftness_cache_uploads_total", {{"lun", "0"}}), 0);
  EXPECT_GT(after.sum("swiftness_cache_hits_total", {{"lun", "0"}}), 0);
  EXPECT_TRUE(after.has("swiftness_cache_misses_total"));
  EXPECT_EQ(after.sum("swiftness_cache_flush_queue_chunks", {{"lun", "0"}}), 0) << "drained";
  EXPECT_EQ(after.sum("swiftness_cache_dirty_bytes", {{"lun", "0"}}), 0) << "drained";
  EXPECT_TRUE(after.has("swiftness_swift_retries_total"));
  EXPECT_TRUE(after.has("swiftness_swift_errors_total"));
  // No secret in the exposition.
  EXPECT_EQ(after_text.find(kChapSecret), std::string::npos);
  EXPECT_EQ(after_text.find("key"), std::string::npos);
  std::printf("load: %s\n", lg.output.substr(lg.output.rfind('{')).c_str());
  EXPECT_EQ(d.stop(60s), 0) << d.log();
}

// ~10 s: /status parsed; secrets absent; socket mode; other users refused; loopback TCP.
TEST(Admin, StatusJsonAndTheEndpointKeepsOthersOut) {
  auto env = swift_aio_env();
  ASSERT_TRUE(env);
  TempDir dir;
  // A free loopback port for the optional HTTP listener.
  uint16_t port = 0;
  {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    ::close(fd);
  }
  Options o;
  o.container = unique_container("status");
  o.chap = true;
  o.lun_size = "64MiB";
  o.cache_size = "64MiB";
  o.extra = "admin:\n  listen: \"127.0.0.1:" + std::to_string(port) + "\"\n";
  Daemon d(dir.path(), config(*env, o));
  ASSERT_TRUE(d.start(60s)) << d.log();

  auto raw = unix_http(socket_of(d), "GET", "/status");
  ASSERT_TRUE(raw && raw->status == 200);
  const json::value st = json::parse(raw->body);
  EXPECT_EQ(jstr(st.at("target").at("iqn")), kIqn);
  EXPECT_EQ(st.at("target").at("portals").as_array().size(), 1u);
  const auto& lun = st.at("luns").at(0);
  EXPECT_EQ(jstr(lun.at("name")), "vol");
  EXPECT_EQ(jstr(lun.at("backend")), "swift");
  EXPECT_EQ(jstr(lun.at("container")), o.container);
  EXPECT_EQ(json::value_to<uint64_t>(lun.at("size")), 64ull << 20);
  EXPECT_EQ(json::value_to<uint64_t>(lun.at("block_size")), 512u);
  EXPECT_EQ(json::value_to<uint64_t>(lun.at("dirty_bytes")), 0u);
  EXPECT_TRUE(lun.at("cache").is_object());
  EXPECT_EQ(jstr(lun.at("drain").at("state")), "idle");
  // Never a secret: neither the CHAP secret nor the Swift key or user.
  EXPECT_EQ(raw->body.find(kChapSecret), std::string::npos) << raw->body;
  EXPECT_EQ(raw->body.find("\"" + env->key + "\""), std::string::npos) << raw->body;
  EXPECT_EQ(raw->body.find(env->user), std::string::npos) << raw->body;

  // The same routes on the loopback port.
  auto tcp = tcp_http(port, "GET", "/metrics");
  ASSERT_TRUE(tcp) << d.log();
  EXPECT_EQ(tcp->status, 200);
  EXPECT_TRUE(parse_prometheus(tcp->body).has("swiftness_lun_size_bytes"));
  auto none = unix_http(socket_of(d), "GET", "/nosuch");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 404);
  auto wrong = unix_http(socket_of(d), "GET", "/drain");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 405);

  // The socket: owner-only, and another user cannot connect.
  struct stat sb {};
  ASSERT_EQ(::stat(socket_of(d).c_str(), &sb), 0);
  EXPECT_TRUE(S_ISSOCK(sb.st_mode));
  EXPECT_EQ(sb.st_mode & 0777, 0600u);
  if (::geteuid() == 0) {
    const std::string path = socket_of(d);
    pid_t child = ::fork();
    if (child == 0) {
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
      int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
      const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
      ::_exit(rc == 0 ? 0 : (errno == EACCES ? 1 : 2));
    }
    int wst = 0;
    ASSERT_EQ(::waitpid(child, &wst, 0), child);
    ASSERT_TRUE(WIFEXITED(wst));
    EXPECT_EQ(WEXITSTATUS(wst), 1) << "user nobody must get EACCES on the admin socket";
  }
  EXPECT_EQ(d.stop(60s), 0) << d.log();

  // A non-loopback listen address: refused before anything starts, exit 2.
  o.extra = "admin:\n  listen: \"0.0.0.0:" + std::to_string(port) + "\"\n";
  TempDir dir2;
  Daemon d2(dir2.path(), config(*env, o));
  EXPECT_FALSE(d2.start(20s));
  EXPECT_NE(d2.log().find("admin.listen: '0.0.0.0' is not a loopback address"), std::string::npos)
      << d2.log();
  EXPECT_FALSE(fs::exists(dir2.path() / "state" / "admin.sock"));
  // Group access when asked for.
  o.extra = "admin:\n  socket_mode: \"0660\"\n";
  TempDir dir3;
  Daemon d3(dir3.path(), config(*env, o));
  ASSERT_TRUE(d3.start(60s)) << d3.log();
  ASSERT_EQ(::stat(socket_of(d3).c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0660u);
  EXPECT_EQ(d3.stop(60s), 0) << d3.log();
}

// ~25 s: 64 MiB written and left dirty, `cache drain` shows progress to completion, then a
// kill -9 (no shutdown drain) and a fresh cache: Swift alone holds the data.
TEST(Admin, CacheDrainToCompletionThenSwiftHoldsTheData) {
  auto env = swift_aio_env();
  ASSERT_TRUE(env);
  TempDir dir;
  Options o;
  o.container = unique_container("drain");
  o.max_dirty_age_s = 3600;  // nothing leaves the cache unless asked
  Daemon d(dir.path(), config(*env, o));
  ASSERT_TRUE(d.start(60s)) << d.log();
  auto w = run({rwverify_binary(), "-q", "--timeout", "30", "--write-only", "--seed", "5",
                "--range", "0:131072", "--xfer", "64k,1m", d.url(kIqn, 0)},
               120s);
  ASSERT_EQ(w.exit_code, 0) << w.output << d.log();
  const uint64_t dirty = lun_field(status(d), "dirty_bytes");
  EXPECT_GE(dirty, 32ull << 20) << "the flusher should not have uploaded much yet";

  auto dr = cli({"cache", "drain", "vol", "--socket", socket_of(d)}, 120s);
  ASSERT_EQ(dr.exit_code, 0) << dr.output << d.log();
  EXPECT_NE(dr.output.find("drain: "), std::string::npos) << "plain progress lines: " << dr.output;
  EXPECT_NE(dr.output.find("100.0%"), std::string::npos) << dr.output;
  EXPECT_NE(dr.output.find("drained"), std::string::npos) << dr.output;
  const auto st = status(d);
  EXPECT_EQ(lun_field(st, "dirty_bytes"), 0u);
  EXPECT_EQ(jstr(st.at("luns").at(0).at("drain").at("state")), "done");
  EXPECT_EQ(json::value_to<uint64_t>(st.at("luns").at(0).at("drain").at("start_dirty_bytes")),
            dirty);
  auto cs = cli({"cache", "status", "--socket", socket_of(d)});
  EXPECT_EQ(cs.exit_code, 0) << cs.output;
  EXPECT_NE(cs.output.find("done"), std::string::npos) << cs.output;

  d.kill9();
  fs::remove_all(dir.path() / "cache");
  fs::remove_all(dir.path() / "state");
  ASSERT_TRUE(d.start(60s)) << d.log();
  auto v = run({rwverify_binary(), "-q", "--timeout", "30", "--verify-only", "--seed", "5",
                "--range", "0:131072", d.url(kIqn, 0)},
               120s);
  EXPECT_EQ(v.exit_code, 0) << v.output << d.log();
  EXPECT_EQ(d.stop(60s), 0) << d.log();
}

// ~45 s: a 256 MiB random image imported with the CLI, drained, the cache wiped, exported from
// a fresh daemon (so every byte comes from Swift), SHA-256 equal.
TEST(Admin, ImportExportRoundTripThroughSwift) {
  auto env = swift_aio_env();
  ASSERT_TRUE(env);
  TempDir dir;
  const fs::path image = dir.path() / "in.img", back = dir.path() / "out.img";
  {
    std::mt19937_64 rng(77);
    std::ofstream out(image, std::ios::binary);
    std::vector<uint64_t> buf(1 << 17);  // 1 MiB
    for (int i = 0; i < 256; ++i) {
      for (auto& x : buf)
        x = rng();
      out.write(reinterpret_cast<const char*>(buf.data()), std::streamsize(buf.size() * 8));
    }
  }
  Options o;
  o.container = unique_container("image");
  Daemon d(dir.path(), config(*env, o));
  ASSERT_TRUE(d.start(60s)) << d.log();
  const auto t0 = std::chrono::steady_clock::now();
  auto imp = cli({"lun", "import", "vol", image.string(), "--socket", socket_of(d)}, 120s);
  ASSERT_EQ(imp.exit_code, 0) << imp.output << d.log();
  EXPECT_NE(imp.output.find("imported 268435456 bytes"), std::string::npos) << imp.output;
  const auto t1 = std::chrono::steady_clock::now();
  auto dr = cli({"cache", "drain", "--socket", socket_of(d)}, 120s);
  ASSERT_EQ(dr.exit_code, 0) << dr.output << d.log();
  const auto t2 = std::chrono::steady_clock::now();
  d.kill9();
  fs::remove_all(dir.path() / "cache");
  fs::remove_all(dir.path() / "state");
  ASSERT_TRUE(d.start(60s)) << d.log();
  EXPECT_EQ(lun_field(status(d), "chunk_objects"), 64u) << "256 MiB in 4 MiB chunks";
  const auto t3 = std::chrono::steady_clock::now();
  auto exp = cli({"lun", "export", "vol", back.string(), "--socket", socket_of(d)}, 120s);
  ASSERT_EQ(exp.exit_code, 0) << exp.output << d.log();
  const auto t4 = std::chrono::steady_clock::now();
  EXPECT_EQ(fs::file_size(back), 256ull << 20);
  // The fresh daemon had only Swift to read from.
  EXPECT_GE(scrape(d).sum("swiftness_cache_misses_total", {{"lun", "0"}}), 1.0);
  EXPECT_EQ(sha256(back), sha256(image));
  auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  std::printf("256 MiB: import %.1f s, drain %.1f s, export from Swift %.1f s\n", secs(t0, t1),
              secs(t1, t2), secs(t3, t4));
  EXPECT_EQ(d.stop(60s), 0) << d.log();
}

// ~5 s: `lun create` appends a block that keeps the file's comments, creates the container and
// validates; `lun resize` grows in place and refuses to shrink; the daemon then serves the LUN.
TEST(Admin, LunCreateAndResizeEditTheConfiguration) {
  auto env = swift_aio_env();
  ASSERT_TRUE(env);
  TempDir dir;
  Options o;
  o.container = unique_container("create");
  o.lun_size = "64MiB";
  o.cache_size = "64MiB";
  std::string yaml = "# managed by hand: keep this comment\n" + config(*env, o) +
                     "# trailing comment after the list\n";
  for (auto pos = yaml.find("@DIR@"); pos != std::string::npos; pos = yaml.find("@DIR@"))
    yaml.replace(pos, 5, dir.path().string());
  const fs::path cfg = dir.path() / "edit.yaml";
  std::ofstream(cfg) << yaml;
  ::chmod(cfg.c_str(), 0640);
  const std::string container = unique_container("new");
  auto cr = cli({"lun", "create", "newvol", "--size", "32MiB", "--container", container, "--config",
                 cfg.string()});
  ASSERT_EQ(cr.exit_code, 0) << cr.output;
  EXPECT_NE(cr.output.find("No daemon answers at"), std::string::npos) << cr.output;
  std::ifstream in(cfg);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.rfind(yaml.substr(0, yaml.find("# trailing")), 0), 0u)
      << "the original text stays as it was:\n"
      << text;
  EXPECT_NE(text.find("# trailing comment after the list"), std::string::npos) << text;
  EXPECT_NE(text.find("    name: newvol"), std::string::npos) << text;
  struct stat sb {};
  ASSERT_EQ(::stat(cfg.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0640u) << "mode kept";
  EXPECT_EQ(run({swiftness_binary(), "check-config", cfg.string()}).exit_code, 0);
  auto dup = cli({"lun", "create", "newvol", "--size", "32MiB", "--config", cfg.string()});
  EXPECT_EQ(dup.exit_code, 2) << dup.output;
  auto bad = cli({"lun", "create", "other", "--size", "lots", "--config", cfg.string()});
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("size: not a size: 'lots'"), std::string::npos) << bad.output;

  auto shrink = cli({"lun", "resize", "newvol", "--size", "16MiB", "--config", cfg.string()});
  EXPECT_EQ(shrink.exit_code, 2) << shrink.output;
  EXPECT_NE(shrink.output.find("shrinking is refused"), std::string::npos) << shrink.output;
  auto grow = cli({"lun", "resize", "newvol", "--size", "48MiB", "--config", cfg.string()});
  ASSERT_EQ(grow.exit_code, 0) << grow.output;
  EXPECT_NE(grow.output.find("No daemon answers at"), std::string::npos) << grow.output;

  // The daemon serves both LUNs; newvol with its new size, in the container the CLI created.
  fs::path ddir = dir.path() / "d";
  fs::create_directories(ddir);
  std::ifstream in2(cfg);
  std::string edited((std::istreambuf_iterator<char>(in2)), std::istreambuf_iterator<char>());
  Daemon d(ddir, edited);
  ASSERT_TRUE(d.start(60s)) << d.log();
  auto list = cli({"lun", "list", "--config", cfg.string()});
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find("newvol"), std::string::npos) << list.output;
  EXPECT_NE(list.output.find(container), std::string::npos) << list.output;
  auto st = json::parse(
      unix_http((dir.path() / "state" / "admin.sock").string(), "GET", "/status")->body);
  EXPECT_EQ(json::value_to<uint64_t>(st.at("luns").at(1).at("size")), 48ull << 20);
  EXPECT_EQ(d.stop(60s), 0) << d.log();
}

// ~6 s: with the daemon running, `lun create` makes it reload at once (POST /reload) and says
// the LUN is attached; /status lists it and it takes an image. A create whose reload is refused
// (the file also changes something only a restart applies) says so and exits 1.
TEST(Admin, LunCreateAttachesToTheRunningDaemon) {
  auto env = swift_aio_env();
  ASSERT_TRUE(env);
  TempDir dir;
  Options o;
  o.container = unique_container("live");
  o.lun_size = "64MiB";
  o.cache_size = "128MiB";
  Daemon d(dir.path(), config(*env, o));
  ASSERT_TRUE(d.start(60s)) << d.log();
  const std::string cfg = (dir.path() / "swiftness.yaml").string();
  const std::string container = unique_container("added");
  auto cr = cli({"lun", "create", "added", "--size", "32MiB", "--container", container,
                 "--chunk-size", "1MiB", "--config", cfg});
  ASSERT_EQ(cr.exit_code, 0) << cr.output << d.log();
  EXPECT_NE(cr.output.find("attached it as LUN 1"), std::string::npos) << cr.output;
  auto st = status(d);
  ASSERT_TRUE(st.is_object());
  ASSERT_EQ(st.at("luns").as_array().size(), 2u) << json::serialize(st);
  EXPECT_EQ(jstr(st.at("luns").at(1).at("name")), "added");
  EXPECT_EQ(json::value_to<uint64_t>(st.at("luns").at(1).at("size")), 32ull << 20);
  // It serves data: an image goes in.
  const fs::path image = dir.path() / "small.img";
  std::ofstream(image) << std::string(1 << 20, 'x');
  auto imp = cli({"lun", "import", "added", image.string(), "--config", cfg}, 60s);
  EXPECT_EQ(imp.exit_code, 0) << imp.output;

  // A reload the daemon refuses: the file moved the portal as well.
  std::string text;
  {
    std::ifstream in(cfg);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const auto at = text.find("127.0.0.1:0");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 11, "127.0.0.1:1");
  {
    std::ofstream out(cfg);
    out << text;
  }
  auto refused = cli({"lun", "create", "third", "--size", "32MiB", "--container",
                      unique_container("third"), "--chunk-size", "1MiB", "--config", cfg});
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("did not attach third"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("target.portals: cannot change while running"), std::string::npos)
      << refused.output;
  EXPECT_EQ(status(d).at("luns").as_array().size(), 2u);
  EXPECT_EQ(d.stop(60s), 0) << d.log();
}
