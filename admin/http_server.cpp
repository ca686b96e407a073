#include "admin/http_server.hpp"

#include <sys/stat.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <filesystem>

#include "core/log.hpp"

namespace swiftness::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using unix_socket = asio::local::stream_protocol;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kMaxSmallBody = 64 * 1024;
constexpr int kMaxConnections = 32;

std::error_code io_error() {
  return std::make_error_code(std::errc::io_error);
}

std::string percent_decode(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%' && i + 2 < in.size() + 0 && std::isxdigit(uint8_t(in[i + 1])) &&
               std::isxdigit(uint8_t(in[i + 2]))) {
      out += char(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

Request to_request(const http::request<http::buffer_body>& m) {
  Request r;
  r.method = std::string(m.method_string());
  std::string_view target = m.target();
  auto q = target.find('?');
  r.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) {
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
      auto amp = rest.find('&');
      std::string_view kv = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
      auto eq = kv.find('=');
      if (eq == std::string_view::npos)
        r.query[percent_decode(kv)] = "";
      else
        r.query[percent_decode(kv.substr(0, eq))] = percent_decode(kv.substr(eq + 1));
    }
  }
  if (auto it = m.find(http::field::content_length); it != m.end()) {
    try {
      r.content_length = std::stoull(std::string(it->value()));
    } catch (...) {
    }
  }
  return r;
}

template <class Socket>
class Source final : public BodySource {
 public:
  Source(Socket& s, beast::flat_buffer& buf, http::request_parser<http::buffer_body>& p)
      : s_(s), buf_(buf), p_(p) {}
  asio::awaitable<core::Result<size_t>> read(std::span<std::byte> out) override {
    if (p_.is_done() || out.empty()) co_return size_t{0};
    p_.get().body().data = out.data();
    p_.get().body().size = out.size();
    auto [ec, n] = co_await http::async_read(s_, buf_, p_, kTuple);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return io_error();
    co_return out.size() - p_.get().body().size;
  }

 private:
  Socket& s_;
  beast::flat_buffer& buf_;
  http::request_parser<http::buffer_body>& p_;
};

template <class Socket>
class Sink final : public BodySink {
 public:
  explicit Sink(Socket& s) : s_(s), sr_(res_) {}
  asio::awaitable<core::Result<void>> start(uint64_t length, std::string content_type) override {
    res_.result(http::status::ok);
    res_.set(http::field::content_type, content_type);
    res_.content_length(length);
    res_.body().data = nullptr;
    res_.body().more = true;
    started_ = true;
    remaining_ = length;
    auto [ec, n] = co_await http::async_write_header(s_, sr_, kTuple);
    if (ec) co_return io_error();
    co_return core::Result<void>{};
  }
  asio::awaitable<core::Result<void>> write(std::span<const std::byte> data) override {
    if (data.size() > remaining_) co_return std::make_error_code(std::errc::invalid_argument);
    res_.body().data = const_cast<std::byte*>(data.data());
    res_.body().size = data.size();
    res_.body().more = true;
    auto [ec, n] = co_await http::async_write(s_, sr_, kTuple);
    if (ec && ec != http::error::need_buffer) co_return io_error();
    remaining_ -= data.size();
    co_return core::Result<void>{};
  }
  asio::awaitable<bool> finish() {
    if (remaining_ != 0) co_return false;  // short: the connection must close
    res_.body().data = nullptr;
    res_.body().size = 0;
    res_.body().more = false;
    auto [ec, n] = co_await http::async_write(s_, sr_, kTuple);
    co_return !ec;
  }
  bool started() const { return started_; }

 private:
  Socket& s_;
  http::response<http::buffer_body> res_;
  http::response_serializer<http::buffer_body> sr_;
  bool started_ = false;
  uint64_t remaining_ = 0;
};

template <class Socket>
asio::awaitable<void> serve_connection(Socket s, std::shared_ptr<Routes> routes,
                                       std::shared_ptr<std::atomic<int>> live) {
  struct Count {
    std::shared_ptr<std::atomic<int>> n;
    ~Count() { --*n; }
  } count{live};
  beast::flat_buffer buf;
  for (;;) {
    http::request_parser<http::buffer_body> p;
    p.body_limit(boost::none);  // only streamed uploads are large; small bodies are capped below
    p.header_limit(16 * 1024);
    auto [ec, n] = co_await http::async_read_header(s, buf, p, kTuple);
    if (ec) co_return;
    const Request req = to_request(p.get());
    bool keep = p.get().keep_alive();
    Reply reply;
    if (routes->streams_upload(req)) {
      Source<Socket> src(s, buf, p);
      reply = co_await routes->upload(req, src);
      if (!p.is_done()) keep = false;  // the rest of the body was not read
    } else {
      size_t body = 0;
      std::array<char, 4096> tmp;
      while (!p.is_done()) {
        p.get().body().data = tmp.data();
        p.get().body().size = tmp.size();
        auto [rec, rn] = co_await http::async_read(s, buf, p, kTuple);
        if (rec && rec != http::error::need_buffer) co_return;
        body += tmp.size() - p.get().body().size;
        if (body > kMaxSmallBody) co_return;
      }
      if (routes->streams_download(req)) {
        Sink<Socket> sink(s);
        auto r = co_await routes->download(req, sink);
        if (sink.started()) {
          bool complete = co_await sink.finish();
          if (!complete || !keep) break;
          continue;
        }
        reply = r ? std::move(*r) : json_error(500, "download produced nothing");
      } else {
        reply = co_await routes->handle(req);
      }
    }
    http::response<http::string_body> res{http::status(reply.status), 11};
    res.set(http::field::content_type, reply.content_type);
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(keep);
    res.body() = std::move(reply.body);
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(s, res, kTuple);
    if (wec || !keep) break;
  }
  boost::system::error_code ignored;
  s.shutdown(Socket::shutdown_both, ignored);
}

}  // namespace

Reply json_error(int status, const std::string& message) {
  boost::json::object o;
  o["error"] = message;
  return Reply{status, "application/json", boost::json::serialize(o) + "\n"};
}

struct HttpServer::Impl : std::enable_shared_from_this<Impl> {
  asio::any_io_executor ex;
  std::shared_ptr<Routes> routes;
  std::optional<unix_socket::acceptor> unix_acceptor;
  std::optional<tcp::acceptor> tcp_acceptor;
  std::string socket_path;
  std::shared_ptr<std::atomic<int>> live = std::make_shared<std::atomic<int>>(0);

  template <class Acceptor>
  asio::awaitable<void> accept_loop(Acceptor& a) {
    auto self = shared_from_this();
    for (;;) {
      auto [ec, sock] = co_await a.async_accept(kTuple);
      if (ec == asio::error::operation_aborted || !a.is_open()) co_return;
      if (ec) continue;
      if (live->load() >= kMaxConnections) continue;  // dropped: the CLI retries
      ++*live;
      asio::co_spawn(ex, serve_connection(std::move(sock), routes, live), asio::detached);
    }
  }
};

HttpServer::HttpServer(asio::any_io_executor ex, std::shared_ptr<Routes> routes)
    : impl_(std::make_shared<Impl>()) {
  impl_->ex = ex;
  impl_->routes = std::move(routes);
}

HttpServer::~HttpServer() {
  stop();
}

core::Result<void> HttpServer::start(const ServerOptions& o) {
  auto log = core::logger("admin");
  boost::system::error_code ec;
  if (!o.socket_path.empty()) {
    // A socket file left by a dead daemon is replaced; one that answers belongs to a live one.
    {
      unix_socket::socket probe(impl_->ex);
      probe.connect(unix_socket::endpoint(o.socket_path), ec);
      if (!ec) {
        log->error("admin socket {} is in use by another process", o.socket_path);
        return std::make_error_code(std::errc::address_in_use);
      }
    }
    std::filesystem::remove(o.socket_path, ec);
    std::filesystem::create_directories(std::filesystem::path(o.socket_path).parent_path(), ec);
    auto& a = impl_->unix_acceptor.emplace(impl_->ex);
    a.open(unix_socket(), ec);
    if (!ec) a.bind(unix_socket::endpoint(o.socket_path), ec);
    // Permissions are set before listen(): until then nobody can connect.
    if (!ec && ::chmod(o.socket_path.c_str(), o.socket_mode) != 0)
      ec = boost::system::error_code(errno, boost::system::system_category());
    if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      log->error("admin socket {}: {}", o.socket_path, ec.message());
      impl_->unix_acceptor.reset();
      return std::make_error_code(std::errc(ec.value()));
    }
    impl_->socket_path = o.socket_path;
    asio::co_spawn(impl_->ex, impl_->accept_loop(a), asio::detached);
    log->info("admin endpoint on {} (mode {:o})", o.socket_path, o.socket_mode);
  }
  if (!o.tcp_address.empty()) {
    auto addr = asio::ip::make_address(o.tcp_address, ec);
    if (ec || !addr.is_loopback()) {
      log->error("admin listen address {} is not a loopback address: refused", o.tcp_address);
      return std::make_error_code(std::errc::permission_denied);
    }
    auto& a = impl_->tcp_acceptor.emplace(impl_->ex);
    tcp::endpoint ep(addr, o.tcp_port);
    a.open(ep.protocol(), ec);
    if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) a.bind(ep, ec);
    if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      log->error("admin listen {}:{}: {}", o.tcp_address, o.tcp_port, ec.message());
      impl_->tcp_acceptor.reset();
      return std::make_error_code(std::errc(ec.value()));
    }
    asio::co_spawn(impl_->ex, impl_->accept_loop(a), asio::detached);
    log->info("admin endpoint on http://{}:{}", o.tcp_address, tcp_port());
  }
  return {};
}

uint16_t HttpServer::tcp_port() const {
  boost::system::error_code ec;
  return impl_->tcp_acceptor ? impl_->tcp_acceptor->local_endpoint(ec).port() : 0;
}

void HttpServer::stop() {
  boost::system::error_code ec;
  if (impl_->unix_acceptor && impl_->unix_acceptor->is_open()) {
    impl_->unix_acceptor->close(ec);
    std::filesystem::remove(impl_->socket_path, ec);
  }
  if (impl_->tcp_acceptor) impl_->tcp_acceptor->close(ec);
}

}  // namespace swiftness::admin
