#include "swift/http.hpp"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <optional>

#include "core/log.hpp"
#include "swift/md5.hpp"

namespace swiftness::swift {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using core::object_errc;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
// Response bodies are read (and hashed) in slices of this size, so MD5 runs on bytes that are
// still in cache instead of a second pass over the whole object.
constexpr std::size_t kReadSlice = 256 * 1024;
constexpr std::size_t kInitialUnknownBody = 64 * 1024;

std::error_code map_error(const boost::system::error_code& ec, bool handshake) {
  if (ec == beast::error::timeout || ec == asio::error::timed_out) return object_errc::timeout;
  if (handshake) return object_errc::tls_error;
  if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message) {
    return object_errc::bad_response;  // a parse error: the peer does not speak HTTP
  }
  return object_errc::connection_failed;
}

// An idle keep-alive connection the server has closed reads as EOF (or an error) right away;
// a live one has nothing to read. Checked before reuse, so requests that must not be replayed
// rarely meet a dead connection.
bool looks_alive(tcp::socket& s) {
  char b;
  const auto n = ::recv(s.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string_view HttpResponse::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) return v;
  }
  return {};
}

bool HttpResponse::has_header(std::string_view lower_name) const {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& kv) { return kv.first == lower_name; });
}

struct Connection {
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<ssl::stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  bool open = false;
  bool used = false;  // carried a request before: a failure may just mean the server closed it

  beast::tcp_stream& tcp() { return tls ? tls->next_layer() : *plain; }
};

struct HttpClient::Impl {
  struct Waiter;
  struct Pool {
    std::vector<std::unique_ptr<Connection>> idle;
    std::size_t busy = 0;
    std::deque<Waiter*> waiters;
    std::optional<tcp::resolver::results_type> resolved;
  };
  // A request waiting for a free slot; release() hands its slot (and connection) over.
  struct Waiter {
    explicit Waiter(asio::any_io_executor ex) : timer(std::move(ex)) {}
    asio::steady_timer timer;
    std::unique_ptr<Connection> handed;
    bool granted = false;
    bool urgent = false;
  };

  Impl(asio::any_io_executor e, TlsOptions t, std::size_t max)
      : ex(std::move(e)), tls_opts(std::move(t)), max_per_endpoint(std::max<std::size_t>(max, 1)) {}

  asio::any_io_executor ex;
  TlsOptions tls_opts;
  std::size_t max_per_endpoint;
  std::optional<ssl::context> ssl_ctx;
  std::error_code ssl_init_error;
  std::map<Endpoint, Pool> pools;
  std::atomic<uint64_t> opened{0};

  std::error_code init_ssl() {
    if (ssl_ctx || ssl_init_error) return ssl_init_error;
    ssl_ctx.emplace(ssl::context::tls_client);
    boost::system::error_code ec;
    if (tls_opts.ca_file.empty()) {
      ssl_ctx->set_default_verify_paths(ec);
    } else {
      ssl_ctx->load_verify_file(tls_opts.ca_file, ec);
    }
    if (!ec)
      ssl_ctx->set_verify_mode(tls_opts.verify_peer ? ssl::verify_peer : ssl::verify_none, ec);
    if (ec) {
      core::logger("swift")->error("TLS setup failed (CA file '{}'): {}", tls_opts.ca_file,
                                   ec.message());
      ssl_init_error = object_errc::tls_error;
    }
    return ssl_init_error;
  }

  std::unique_ptr<Connection> make_connection(const Endpoint& ep) {
    auto c = std::make_unique<Connection>();
    // Beast sizes each read by the buffer's free capacity: a tiny buffer means tiny reads.
    c->buffer.reserve(64 * 1024);
    if (ep.tls) {
      c->tls = std::make_unique<ssl::stream<beast::tcp_stream>>(ex, *ssl_ctx);
    } else {
      c->plain = std::make_unique<beast::tcp_stream>(ex);
    }
    return c;
  }

  // Reads (GET, HEAD) are what an initiator's command waits for; uploads run in the background,
  // flush_concurrency of them per LUN, and on a slow Swift each holds its connection for long.
  // So the other requests may hold at most max - reserve connections, urgent ones all of them,
  // and urgent waiters are served first: a read never queues behind a pool full of PUTs
  // (issue 8: cold reads timed out behind uploads under added latency).
  std::size_t limit(bool urgent) const {
    const std::size_t reserve =
        max_per_endpoint >= 2 ? std::max<std::size_t>(1, max_per_endpoint / 4) : 0;
    return urgent ? max_per_endpoint : max_per_endpoint - reserve;
  }

  asio::awaitable<core::Result<std::unique_ptr<Connection>>> acquire(const Endpoint& ep,
                                                                     Clock::time_point deadline,
                                                                     bool urgent) {
    Pool& pool = pools[ep];
    if (pool.busy < limit(urgent)) {
      while (!pool.idle.empty()) {
        auto c = std::move(pool.idle.back());
        pool.idle.pop_back();
        if (!looks_alive(c->tcp().socket())) continue;
        ++pool.busy;
        co_return c;
      }
      if (pool.busy + pool.idle.size() < max_per_endpoint) {
        ++pool.busy;
        co_return make_connection(ep);
      }
    }
    Waiter w(ex);
    w.urgent = urgent;
    w.timer.expires_at(deadline);
    if (urgent) {  // after the urgent ones already waiting, before the rest
      auto at = std::find_if(pool.waiters.begin(), pool.waiters.end(),
                             [](const Waiter* x) { return !x->urgent; });
      pool.waiters.insert(at, &w);
    } else {
      pool.waiters.push_back(&w);
    }
    co_await w.timer.async_wait(kTuple);
    if (!w.granted) {
      std::erase(pool.waiters, &w);
      co_return object_errc::timeout;
    }
    if (w.handed) co_return std::move(w.handed);
    co_return make_connection(ep);
  }

  void release(const Endpoint& ep, std::unique_ptr<Connection> c, bool reusable) {
    Pool& pool = pools[ep];
    if (!reusable) c.reset();
    // The slot passes to the first waiter (busy stays the same): an urgent one, or any while the
    // others' limit allows it.
    if (!pool.waiters.empty() && (pool.waiters.front()->urgent || pool.busy - 1 < limit(false))) {
      Waiter* w = pool.waiters.front();
      pool.waiters.pop_front();
      w->granted = true;
      w->handed = std::move(c);
      w->timer.cancel();
      return;
    }
    --pool.busy;
    if (c) pool.idle.push_back(std::move(c));
  }

  asio::awaitable<std::error_code> connect(const Endpoint& ep, Connection& c,
                                           Clock::time_point deadline) {
    Pool& pool = pools[ep];
    if (!pool.resolved) {
      tcp::resolver resolver(ex);
      const std::string service = std::to_string(ep.port);
      auto [ec, results] = co_await resolver.async_resolve(ep.host, service, kTuple);
      if (ec) co_return object_errc::connection_failed;
      pool.resolved = results;
    }
    beast::tcp_stream& tcp = c.tcp();
    tcp.expires_at(deadline);
    auto [ec, endpoint] = co_await tcp.async_connect(*pool.resolved, kTuple);
    if (ec) co_return map_error(ec, false);
    ++opened;
    boost::system::error_code ignored;
    tcp.socket().set_option(tcp::no_delay(true), ignored);
    if (c.tls) {
      boost::system::error_code addr_ec;
      asio::ip::make_address(ep.host, addr_ec);
      // RFC 6066 3: SNI carries host names only, never address literals.
      if (addr_ec && SSL_set_tlsext_host_name(c.tls->native_handle(), ep.host.c_str()) != 1) {
        co_return object_errc::tls_error;
      }
      if (tls_opts.verify_peer) c.tls->set_verify_callback(ssl::host_name_verification(ep.host));
      tcp.expires_at(deadline);
      auto [hec] = co_await c.tls->async_handshake(ssl::stream_base::client, kTuple);
      if (hec) {
        core::logger("swift")->warn("TLS handshake with {} failed: {}", ep.host_header(),
                                    hec.message());
        co_return map_error(hec, true);
      }
    }
    c.open = true;
    co_return std::error_code{};
  }

  template <class Stream>
  asio::awaitable<std::error_code> run(Stream& s, Connection& c, const Endpoint& ep,
                                       const HttpRequest& req, Clock::time_point deadline,
                                       HttpResponse& out, bool& got_reply, bool& keep_alive) {
    http::request<http::buffer_body> msg;
    msg.version(11);
    msg.method_string(req.method);
    msg.target(req.target);
    msg.set(http::field::host, ep.host_header());
    msg.set(http::field::user_agent, "swiftness");
    for (const auto& [k, v] : req.headers)
      msg.set(k, v);
    if (req.send_body) {
      msg.content_length(req.body.size());
      // buffer_body wants void*; the serializer only reads through it.
      msg.body().data = const_cast<std::byte*>(req.body.data());
      msg.body().size = req.body.size();
    } else {
      msg.body().data = nullptr;
      msg.body().size = 0;
    }
    msg.body().more = false;
    msg.keep_alive(true);

    beast::tcp_stream& tcp = c.tcp();
    tcp.expires_at(deadline);
    auto [wec, written] = co_await http::async_write(s, msg, kTuple);
    if (wec) co_return map_error(wec, false);

    http::response_parser<http::buffer_body> p;
    p.body_limit(std::numeric_limits<std::uint64_t>::max());
    if (!req.expect_body) p.skip(true);
    tcp.expires_at(deadline);
    auto [hec, hn] = co_await http::async_read_header(s, c.buffer, p, kTuple);
    if (hec) {
      got_reply = hn > 0;
      co_return map_error(hec, false);
    }
    got_reply = true;
    out.status = static_cast<int>(p.get().result_int());
    for (const auto& f : p.get()) {
      out.headers.emplace_back(lower(f.name_string()), std::string(f.value()));
    }
    std::size_t filled = 0;
    const auto len = p.content_length();
    if (!p.is_done() && len && !p.chunked()) {
      // Content-Length known: read the body straight into its final place, not through the
      // parser's buffer (one copy less; large reads), hashing each slice while it is hot.
      out.body.resize(static_cast<std::size_t>(*len));
      const std::size_t early = std::min(c.buffer.size(), out.body.size());
      if (early > 0) {
        std::memcpy(out.body.data(), c.buffer.data().data(), early);
        c.buffer.consume(early);
        if (req.body_digest != nullptr) req.body_digest->update({out.body.data(), early});
        filled = early;
      }
      while (filled < out.body.size()) {
        const std::size_t room = std::min(out.body.size() - filled, kReadSlice);
        tcp.expires_at(deadline);
        auto [rec, rn] =
            co_await asio::async_read(s, asio::buffer(out.body.data() + filled, room), kTuple);
        if (rec) co_return map_error(rec, false);  // EOF before Content-Length: truncated
        if (req.body_digest != nullptr) req.body_digest->update({out.body.data() + filled, rn});
        filled += rn;
      }
      keep_alive = p.get().keep_alive();
      co_return std::error_code{};
    }
    if (!p.is_done()) {
      out.body.resize(len ? static_cast<std::size_t>(*len) : kInitialUnknownBody);
      while (!p.is_done()) {
        if (filled == out.body.size()) out.body.resize(out.body.size() * 2);  // chunked
        const std::size_t room = std::min(out.body.size() - filled, kReadSlice);
        p.get().body().data = out.body.data() + filled;
        p.get().body().size = room;
        tcp.expires_at(deadline);
        auto [rec, rn] = co_await http::async_read(s, c.buffer, p, kTuple);
        if (rec == http::error::need_buffer) rec = {};
        if (rec) co_return map_error(rec, false);
        const std::size_t got = room - p.get().body().size;
        if (req.body_digest != nullptr) req.body_digest->update({out.body.data() + filled, got});
        filled += got;
      }
    }
    out.body.resize(filled);
    keep_alive = p.get().keep_alive();
    co_return std::error_code{};
  }
};

HttpClient::HttpClient(asio::any_io_executor ex, TlsOptions tls, std::size_t max_per_endpoint)
    : impl_(std::make_unique<Impl>(std::move(ex), std::move(tls), max_per_endpoint)) {}

HttpClient::~HttpClient() = default;

uint64_t HttpClient::connections_opened() const {
  return impl_->opened.load();
}

asio::awaitable<core::Result<HttpResponse>> HttpClient::exchange(const Endpoint& ep,
                                                                 const HttpRequest& req,
                                                                 Clock::time_point deadline) {
  Impl& m = *impl_;
  if (ep.tls) {
    if (auto ec = m.init_ssl()) co_return ec;
  }
  const bool urgent = req.method == "GET" || req.method == "HEAD";
  auto acquired = co_await m.acquire(ep, deadline, urgent);
  if (!acquired) co_return acquired.error();
  std::unique_ptr<Connection> conn = std::move(*acquired);

  for (int pass = 0;; ++pass) {
    const bool reused = conn->used;
    std::error_code ec;
    if (!conn->open) ec = co_await m.connect(ep, *conn, deadline);
    HttpResponse out;
    bool got_reply = false;
    bool keep_alive = false;
    if (!ec) {
      conn->used = true;
      if (req.body_digest != nullptr) req.body_digest->final_hex();  // reset for a replay
      // (if/else, not ?: — GCC 12 miscompiles co_await inside a conditional expression)
      if (conn->tls) {
        ec = co_await m.run(*conn->tls, *conn, ep, req, deadline, out, got_reply, keep_alive);
      } else {
        ec = co_await m.run(*conn->plain, *conn, ep, req, deadline, out, got_reply, keep_alive);
      }
    }
    if (!ec) {
      m.release(ep, std::move(conn), keep_alive);
      co_return out;
    }
    // A pooled connection that died under us without a reply byte: replay once on a fresh one,
    // if the request may run twice.
    if (req.idempotent && reused && !got_reply && pass == 0 &&
        ec == object_errc::connection_failed && Clock::now() < deadline) {
      conn = m.make_connection(ep);
      continue;
    }
    m.release(ep, nullptr, false);
    co_return ec;
  }
}

}  // namespace swiftness::swift
