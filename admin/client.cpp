#include "admin/client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <vector>

namespace swiftness::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr size_t kSlice = 1 << 20;

std::error_code to_std(const boost::system::error_code& ec) {
  return std::error_code(ec.value(), std::system_category());
}

// Runs `fn` with a connected stream of either kind.
template <class Fn>
core::Result<Response> with_stream(const Endpoint& ep, Fn&& fn) {
  asio::io_context io;
  boost::system::error_code ec;
  if (!ep.socket_path.empty()) {
    asio::local::stream_protocol::socket s(io);
    s.connect(asio::local::stream_protocol::endpoint(ep.socket_path), ec);
    if (ec) return to_std(ec);
    return fn(s);
  }
  asio::ip::tcp::socket s(io);
  auto addr = asio::ip::make_address(ep.tcp_address, ec);
  if (ec) return to_std(ec);
  s.connect(asio::ip::tcp::endpoint(addr, ep.tcp_port), ec);
  if (ec) return to_std(ec);
  return fn(s);
}

template <class Stream>
core::Result<Response> read_small(Stream& s, beast::flat_buffer& buf) {
  http::response<http::string_body> res;
  boost::system::error_code ec;
  http::read(s, buf, res, ec);
  if (ec) return to_std(ec);
  return Response{int(res.result_int()), std::move(res.body())};
}

}  // namespace

std::string Endpoint::describe() const {
  if (!socket_path.empty()) return socket_path;
  return "http://" + tcp_address + ":" + std::to_string(tcp_port);
}

core::Result<Response> Client::call(const std::string& method, const std::string& target) {
  return with_stream(ep_, [&](auto& s) -> core::Result<Response> {
    http::request<http::empty_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, "localhost");
    req.keep_alive(false);
    boost::system::error_code ec;
    http::write(s, req, ec);
    if (ec) return to_std(ec);
    beast::flat_buffer buf;
    return read_small(s, buf);
  });
}

core::Result<Response> Client::upload(const std::string& target, std::istream& in, uint64_t length,
                                      const ProgressFn& progress) {
  return with_stream(ep_, [&](auto& s) -> core::Result<Response> {
    http::request<http::buffer_body> req{http::verb::put, target, 11};
    req.set(http::field::host, "localhost");
    req.set(http::field::content_type, "application/octet-stream");
    req.content_length(length);
    req.keep_alive(false);
    req.body().data = nullptr;
    req.body().more = true;
    http::request_serializer<http::buffer_body> sr{req};
    boost::system::error_code ec;
    http::write_header(s, sr, ec);
    if (ec) return to_std(ec);
    std::vector<char> chunk(kSlice);
    uint64_t done = 0;
    while (done < length) {
      const size_t n = size_t(std::min<uint64_t>(chunk.size(), length - done));
      in.read(chunk.data(), std::streamsize(n));
      if (size_t(in.gcount()) != n) return std::make_error_code(std::errc::io_error);
      req.body().data = chunk.data();
      req.body().size = n;
      req.body().more = true;
      http::write(s, sr, ec);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        // The daemon may have refused early (409) and closed: report its answer if there is one.
        beast::flat_buffer buf;
        if (auto r = read_small(s, buf)) return r;
        return to_std(ec);
      }
      done += n;
      if (progress) progress(done);
    }
    req.body().data = nullptr;
    req.body().size = 0;
    req.body().more = false;
    http::write(s, sr, ec);
    if (ec) return to_std(ec);
    beast::flat_buffer buf;
    return read_small(s, buf);
  });
}

core::Result<Response> Client::download(const std::string& target, std::ostream& out,
                                        const std::function<void(uint64_t)>& length,
                                        const ProgressFn& progress) {
  return with_stream(ep_, [&](auto& s) -> core::Result<Response> {
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "localhost");
    req.keep_alive(false);
    boost::system::error_code ec;
    http::write(s, req, ec);
    if (ec) return to_std(ec);
    beast::flat_buffer buf;
    http::response_parser<http::buffer_body> p;
    p.body_limit(boost::none);
    http::read_header(s, buf, p, ec);
    if (ec) return to_std(ec);
    std::vector<char> chunk(kSlice);
    const int status = int(p.get().result_int());
    if (status != 200) {
      std::string body;
      while (!p.is_done()) {
        p.get().body().data = chunk.data();
        p.get().body().size = chunk.size();
        http::read(s, buf, p, ec);
        if (ec && ec != http::error::need_buffer) break;
        body.append(chunk.data(), chunk.size() - p.get().body().size);
      }
      return Response{status, body};
    }
    if (length && p.content_length()) length(*p.content_length());
    uint64_t done = 0;
    while (!p.is_done()) {
      p.get().body().data = chunk.data();
      p.get().body().size = chunk.size();
      http::read(s, buf, p, ec);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return to_std(ec);  // short body: the daemon failed mid-way
      const size_t n = chunk.size() - p.get().body().size;
      out.write(chunk.data(), std::streamsize(n));
      if (!out) return std::make_error_code(std::errc::io_error);
      done += n;
      if (progress) progress(done);
    }
    return Response{200, {}};
  });
}

}  // namespace swiftness::admin
