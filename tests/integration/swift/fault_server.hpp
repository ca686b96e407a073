// A small scripted HTTP/1.1 server on 127.0.0.1 for what a real Swift will not do on demand:
// 503 then success, 429/498 with Retry-After, a connection reset mid-body, a truncated body, a
// stall past the client's deadline. Each request is answered by a handler the test supplies.
// Blocking sockets, one thread per connection: simple, and far from the code under test.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace swiftness::testing {

struct FaultRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;
  std::chrono::steady_clock::time_point at;
  int connection = 0;  // which accepted connection carried it (0, 1, ...)

  std::string header(const std::string& lower_name) const {
    for (const auto& [k, v] : headers) {
      if (k == lower_name) return v;
    }
    return {};
  }
};

struct FaultReply {
  enum class Mode { normal, reset_mid_body, truncate_body, stall };
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  Mode mode = Mode::normal;
  std::chrono::milliseconds delay{0};  // before answering (normal), or how long to stall
};

class FaultServer {
 public:
  using Handler = std::function<FaultReply(const FaultRequest&)>;

  explicit FaultServer(Handler handler)
      : handler_(std::move(handler)),
        acceptor_(ctx_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~FaultServer() {
    stop_ = true;
    // Wake the blocking accept() with a connection of our own.
    try {
      boost::asio::ip::tcp::socket s(ctx_);
      s.connect({boost::asio::ip::make_address("127.0.0.1"), port_});
    } catch (...) {
    }
    accept_thread_.join();
    std::lock_guard lock(mutex_);
    for (auto& t : connections_)
      t.join();
  }

  uint16_t port() const { return port_; }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  std::vector<FaultRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  int connections_accepted() const { return accepted_.load(); }
  int max_concurrent_connections() const { return max_open_.load(); }

 private:
  void accept_loop() {
    for (;;) {
      boost::asio::ip::tcp::socket s(ctx_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      if (stop_ || ec) return;
      const int id = accepted_++;
      std::lock_guard lock(mutex_);
      connections_.emplace_back([this, id, sock = std::move(s)]() mutable { serve(id, sock); });
    }
  }

  void serve(int id, boost::asio::ip::tcp::socket& s) {
    namespace http = boost::beast::http;
    const int open = ++open_;
    for (int m = max_open_.load(); open > m && !max_open_.compare_exchange_weak(m, open);) {
    }
    timeval tv{10, 0};  // never hang a test run on a forgotten client
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    boost::beast::flat_buffer buf;
    for (;;) {
      http::request<http::string_body> req;
      boost::system::error_code ec;
      http::read(s, buf, req, ec);
      if (ec) break;
      FaultRequest r{std::string(req.method_string()),
                     std::string(req.target()),
                     {},
                     req.body(),
                     std::chrono::steady_clock::now(),
                     id};
      for (const auto& f : req) {
        std::string name(f.name_string());
        for (auto& c : name)
          c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        r.headers.emplace_back(name, std::string(f.value()));
      }
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(r);
      }
      const FaultReply reply = handler_(r);
      if (reply.mode == FaultReply::Mode::stall) {
        std::this_thread::sleep_for(reply.delay);
        break;
      }
      if (reply.delay.count() > 0) std::this_thread::sleep_for(reply.delay);
      std::string head = "HTTP/1.1 " + std::to_string(reply.status) + " Status\r\n";
      for (const auto& [k, v] : reply.headers)
        head += k + ": " + v + "\r\n";
      head += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n\r\n";
      const bool cut = reply.mode == FaultReply::Mode::reset_mid_body ||
                       reply.mode == FaultReply::Mode::truncate_body;
      const std::string out =
          head + (cut ? reply.body.substr(0, reply.body.size() / 2) : reply.body);
      boost::asio::write(s, boost::asio::buffer(out), ec);
      if (ec) break;
      if (reply.mode == FaultReply::Mode::reset_mid_body) {
        linger l{1, 0};  // close() now sends RST instead of FIN
        ::setsockopt(s.native_handle(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
        break;
      }
      if (reply.mode == FaultReply::Mode::truncate_body) break;
      if (!req.keep_alive()) break;
    }
    boost::system::error_code ignored;
    s.close(ignored);
    --open_;
  }

  Handler handler_;
  boost::asio::io_context ctx_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread accept_thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> open_{0};
  std::atomic<int> max_open_{0};
  mutable std::mutex mutex_;
  std::list<std::thread> connections_;
  std::vector<FaultRequest> requests_;
};

}  // namespace swiftness::testing
