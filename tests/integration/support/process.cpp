#include "tests/integration/support/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

namespace swiftness::testing {
namespace fs = std::filesystem;
using namespace std::chrono;

std::string swiftness_binary() {
  return SWIFTNESS_BINARY;
}
std::string rwverify_binary() {
  return SWIFTNESS_RWVERIFY;
}
std::string loadgen_binary() {
  return SWIFTNESS_LOADGEN;
}

namespace {

pid_t spawn(const std::vector<std::string>& argv, int out_fd) {
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out_fd, 1);
    dup2(out_fd, 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  return pid;
}

// Waits for `pid` up to `timeout`; returns the wait status, or -1 on timeout.
int wait_for(pid_t pid, milliseconds timeout) {
  auto deadline = steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return 0;
    if (steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(milliseconds(10));
  }
}

}  // namespace

CommandResult run(const std::vector<std::string>& argv, seconds timeout) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return {};
  pid_t pid = spawn(argv, fds[1]);
  close(fds[1]);
  CommandResult r;
  auto deadline = steady_clock::now() + timeout;
  char buf[4096];
  bool killed = false;
  while (true) {
    auto left = duration_cast<milliseconds>(deadline - steady_clock::now()).count();
    if (left <= 0 && !killed) {
      kill(pid, SIGKILL);
      killed = true;
      r.output += "\n[killed after " + std::to_string(timeout.count()) + " s]\n";
    }
    pollfd p{fds[0], POLLIN, 0};
    int n = poll(&p, 1, killed ? 1000 : int(std::min<long>(left, 1000)));
    if (n > 0) {
      ssize_t got = read(fds[0], buf, sizeof buf);
      if (got <= 0) break;
      r.output.append(buf, size_t(got));
    }
  }
  close(fds[0]);
  int status = wait_for(pid, seconds(10));
  if (!killed && status >= 0 && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  return r;
}

TempDir::TempDir() {
  const char* base = getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/swiftness-test-XXXXXX";
  char* p = mkdtemp(tmpl.data());
  path_ = p ? p : tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!getenv("SWIFTNESS_KEEP_TEST_DIRS")) fs::remove_all(path_, ec);
}

Daemon::Daemon(const fs::path& dir, std::string yaml) : dir_(dir), config_(dir / "swiftness.yaml") {
  for (size_t at; (at = yaml.find("@DIR@")) != std::string::npos;)
    yaml.replace(at, 5, dir.string());
  std::ofstream(config_) << yaml;
}

Daemon::~Daemon() {
  if (pid_ > 0) stop(seconds(10));
}

bool Daemon::start(seconds timeout) {
  fs::path ready = dir_ / "ready";
  fs::remove(ready);
  int log = open((dir_ / "daemon.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pid_ = spawn(
      {swiftness_binary(), "serve", "--config", config_.string(), "--ready-file", ready.string()},
      log);
  close(log);
  auto deadline = steady_clock::now() + timeout;
  while (steady_clock::now() < deadline) {
    std::ifstream in(ready);
    if (in >> port_) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  kill9();
  return false;
}

void Daemon::kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  wait_for(pid_, seconds(10));
  pid_ = -1;
}

int Daemon::stop(seconds timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = wait_for(pid_, duration_cast<milliseconds>(timeout));
  if (status < 0) {
    kill9();
    return -1;
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool Daemon::alive() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

bool Daemon::signal(int sig) const {
  return pid_ > 0 && kill(pid_, sig) == 0;
}

void Daemon::rewrite_config(std::string yaml) const {
  for (size_t at; (at = yaml.find("@DIR@")) != std::string::npos;)
    yaml.replace(at, 5, dir_.string());
  // Written beside and renamed: a SIGHUP never reads half a file.
  fs::path tmp = config_;
  tmp += ".tmp";
  std::ofstream(tmp) << yaml;
  fs::rename(tmp, config_);
}

std::string Daemon::url(const std::string& iqn, int lun, const std::string& auth) const {
  return "iscsi://" + (auth.empty() ? "" : auth + "@") + portal() + "/" + iqn + "/" +
         std::to_string(lun);
}

std::string Daemon::log() const {
  std::ifstream in(dir_ / "daemon.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Daemon::log_tail(size_t lines) const {
  const std::string all = log();
  // The tail starts at the (lines + 1)-th newline from the end (the last one ends the log).
  size_t at = all.size();
  for (size_t n = 0; n <= lines; ++n) {
    const size_t nl = at == 0 ? std::string::npos : all.rfind('\n', at - 1);
    if (nl == std::string::npos) return all;
    at = nl;
  }
  return "[...]" + all.substr(at);
}

std::string Daemon::stacks() const {
  if (pid_ <= 0) return "[daemon not running: no stacks]\n";
  auto r = run({"gdb", "-p", std::to_string(pid_), "-batch", "-nx", "-ex", "set pagination off",
                "-ex", "thread apply all bt"},
               seconds(90));
  return "[daemon stacks, gdb exit " + std::to_string(r.exit_code) + "]\n" + r.output;
}

}  // namespace swiftness::testing
