// Test helpers for the admin endpoint: a raw HTTP/1.0 GET/POST over the Unix socket or TCP
// (independent of the daemon's own client code), and a parser for the Prometheus text format.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace swiftness::testing {

struct HttpAnswer {
  int status = 0;
  std::string body;
};

inline std::optional<HttpAnswer> http_exchange(int fd, const std::string& method,
                                               const std::string& target) {
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string req = method + " " + target + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != ssize_t(req.size())) {
    ::close(fd);
    return std::nullopt;
  }
  std::string all;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    all.append(buf, size_t(n));
  }
  ::close(fd);
  auto sp = all.find(' ');
  auto hdr_end = all.find("\r\n\r\n");
  if (sp == std::string::npos || hdr_end == std::string::npos) return std::nullopt;
  return HttpAnswer{std::atoi(all.c_str() + sp + 1), all.substr(hdr_end + 4)};
}

inline std::optional<HttpAnswer> unix_http(const std::string& socket_path,
                                           const std::string& method, const std::string& target) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, socket_path.c_str(), sizeof a.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  return http_exchange(fd, method, target);
}

inline std::optional<HttpAnswer> tcp_http(uint16_t port, const std::string& method,
                                          const std::string& target) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  return http_exchange(fd, method, target);
}

// One sample of the text format: name, labels, value.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Scrape {
  std::map<std::string, std::string> types;  // family -> counter | gauge | histogram
  std::vector<Sample> samples;
  std::vector<std::string> errors;  // lines that do not parse

  // Sum of the samples named `name` whose labels include `want`.
  double sum(const std::string& name, const std::map<std::string, std::string>& want = {}) const {
    double s = 0;
    for (const auto& x : samples) {
      if (x.name != name) continue;
      bool ok = true;
      for (const auto& [k, v] : want) {
        auto it = x.labels.find(k);
        ok &= it != x.labels.end() && it->second == v;
      }
      if (ok) s += x.value;
    }
    return s;
  }
  bool has(const std::string& name) const {
    for (const auto& x : samples)
      if (x.name == name) return true;
    return false;
  }
};

inline Scrape parse_prometheus(const std::string& text) {
  Scrape out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream t(line.substr(7));
      std::string fam, type;
      t >> fam >> type;
      if (out.types.count(fam)) out.errors.push_back("TYPE twice: " + line);
      out.types[fam] = type;
      continue;
    }
    if (line[0] == '#') continue;
    Sample s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ')
      ++i;
    s.name = line.substr(0, i);
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        auto eq = line.find('=', i);
        if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') break;
        std::string key = line.substr(i, eq - i), val;
        size_t j = eq + 2;
        while (j < line.size() && line[j] != '"') {
          if (line[j] == '\\' && j + 1 < line.size()) ++j;
          val += line[j++];
        }
        s.labels[key] = val;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size() || line[i] != '}') {
        out.errors.push_back(line);
        continue;
      }
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') {
      out.errors.push_back(line);
      continue;
    }
    const std::string v = line.substr(i + 1);
    char* end = nullptr;
    s.value = v == "+Inf" ? 1e308 : std::strtod(v.c_str(), &end);
    if (v != "+Inf" && (end == v.c_str() || *end != '\0')) {
      out.errors.push_back(line);
      continue;
    }
    out.samples.push_back(std::move(s));
  }
  return out;
}

}  // namespace swiftness::testing
