// The fault-injecting proxy (fault_proxy.py) as a child process of the test, owned by PID: it
// sits on 127.0.0.1 between the daemon and a real Swift; set() switches faults on and off while
// the daemon runs, stats() says what the proxy saw and injected (so a test can check the fault
// really hit the daemon's traffic).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>

namespace swiftness::testing {

class FaultProxy {
 public:
  // `upstream_port`: the Swift proxy's port on 127.0.0.1; `dir`: a private directory.
  FaultProxy(int upstream_port, const std::filesystem::path& dir) {
    const std::string ready = (dir / "fault_proxy.ready").string();
    const std::string log = (dir / "fault_proxy.log").string();
    log_ = log;
    const std::string up = "127.0.0.1:" + std::to_string(upstream_port);
    pid_ = ::fork();
    if (pid_ == 0) {  // only async-signal-safe calls until exec: the test has threads
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execlp("python3", "python3", SWIFTNESS_FAULT_PROXY, "--upstream", up.c_str(),
               "--ready-file", ready.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline && pid_ > 0) {
      std::ifstream in(ready);
      std::string line;
      if (in && std::getline(in, line)) {
        std::smatch m;
        if (std::regex_search(line, m, std::regex("port=([0-9]+) control=([0-9]+)"))) {
          port_ = std::stoi(m[1]);
          control_port_ = std::stoi(m[2]);
          return;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~FaultProxy() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  bool started() const { return port_ != 0; }
  int port() const { return port_; }
  std::string auth_url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/auth/v1.0";
  }
  std::string log() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // The fault state becomes exactly `query` (fault_proxy.py lists the keys); "" clears it.
  // Returns the proxy's counters as JSON, or "" if it did not answer.
  std::string set(const std::string& query) { return get("/set?" + query); }
  std::string clear() { return get("/clear"); }
  std::string stats() { return get("/stats"); }
  // One counter out of stats()/set() JSON; -1 if absent.
  static long counter(const std::string& json, const std::string& name) {
    std::smatch m;
    if (!std::regex_search(json, m, std::regex("\"" + name + "\": ([0-9]+)"))) return -1;
    return std::stol(m[1]);
  }

 private:
  // Plain blocking sockets (no Asio here: the test links no compiled Asio), 10 s at most.
  std::string get(const std::string& target) const {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return "";
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(control_port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string out;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      const std::string req = "GET " + target + " HTTP/1.1\r\nHost: control\r\n\r\n";
      if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == ssize_t(req.size())) {
        char buf[4096];
        for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)  // until the proxy closes
          out.append(buf, size_t(n));
      }
    }
    ::close(fd);
    const auto body = out.find("\r\n\r\n");
    return body == std::string::npos ? "" : out.substr(body + 4);
  }

  pid_t pid_ = -1;
  int port_ = 0;
  int control_port_ = 0;
  std::string log_;
};

}  // namespace swiftness::testing
