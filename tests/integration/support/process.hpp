// Test support: run programs with a deadline, and the daemon as a child process we own by PID.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace swiftness::testing {

struct CommandResult {
  int exit_code = -1;  // -1: killed by the deadline or by a signal
  std::string output;  // stdout and stderr together
};

// Runs argv, killing it (by PID) if it outlives `timeout`.
CommandResult run(const std::vector<std::string>& argv,
                  std::chrono::seconds timeout = std::chrono::seconds(60));

// A private directory under $TMPDIR (or /tmp), removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The swiftness daemon under test: started with a config, listening on a free port.
class Daemon {
 public:
  // `config_yaml` may use the placeholder @DIR@ for the test's private directory.
  Daemon(const std::filesystem::path& dir, std::string config_yaml);
  ~Daemon();

  // Starts and waits until the portal listens; returns false (and the log) on failure.
  bool start(std::chrono::seconds timeout = std::chrono::seconds(20));
  void kill9();
  // SIGTERM and wait; returns the exit code (-1 if it had to be killed).
  int stop(std::chrono::seconds timeout = std::chrono::seconds(30));
  bool running() const { return pid_ > 0; }
  // True while the process exists (it may have exited without anyone waiting for it yet).
  bool alive();
  pid_t pid() const { return pid_; }
  // Sends `sig` (SIGHUP: reload) to the daemon; false if it is not running.
  bool signal(int sig) const;
  // Replaces the configuration file (@DIR@ expanded as in the constructor); the daemon reads it
  // at the next start or SIGHUP.
  void rewrite_config(std::string config_yaml) const;

  uint16_t port() const { return port_; }
  std::string portal() const { return "127.0.0.1:" + std::to_string(port_); }
  // iscsi://[user%secret@]127.0.0.1:port/iqn/lun
  std::string url(const std::string& iqn, int lun, const std::string& auth = "") const;
  std::string log() const;
  // The last `lines` lines of the log (a failure message stays readable).
  std::string log_tail(size_t lines = 200) const;
  // Every thread's stack, from gdb attached for a moment (the daemon goes on afterwards): what
  // a test prints when a command hangs. A note instead when gdb is missing or cannot attach.
  std::string stacks() const;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::filesystem::path config_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

// Paths of the binaries under test, from the build (compile definitions).
std::string swiftness_binary();
std::string rwverify_binary();
std::string loadgen_binary();

}  // namespace swiftness::testing
