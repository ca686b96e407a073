// The admin endpoint's HTTP/1.1 server (Boost.Beast): a Unix socket (created with the configured
// mode before it accepts anything) and optionally a loopback TCP port. It knows nothing about the
// daemon: a Routes object answers requests; large bodies (disk images) are streamed both ways.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "core/result.hpp"

namespace swiftness::admin {

struct Request {
  std::string method;  // "GET", "POST", "PUT"
  std::string path;    // without the query
  std::map<std::string, std::string> query;
  std::optional<uint64_t> content_length;
  std::string param(const std::string& k) const {
    auto it = query.find(k);
    return it == query.end() ? std::string() : it->second;
  }
};

struct Reply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

Reply json_error(int status, const std::string& message);

// The request body, read as it arrives (PUT of a disk image).
class BodySource {
 public:
  virtual ~BodySource() = default;
  // Fills up to buf.size() bytes; 0 at the end of the body.
  virtual boost::asio::awaitable<core::Result<size_t>> read(std::span<std::byte> buf) = 0;
};

// A response body of known length, written as it is produced (GET of a disk image).
class BodySink {
 public:
  virtual ~BodySink() = default;
  virtual boost::asio::awaitable<core::Result<void>> start(uint64_t length,
                                                           std::string content_type) = 0;
  virtual boost::asio::awaitable<core::Result<void>> write(std::span<const std::byte> data) = 0;
};

class Routes {
 public:
  virtual ~Routes() = default;
  // Requests without a body worth streaming.
  virtual boost::asio::awaitable<Reply> handle(const Request& req) = 0;
  // True if this request's body should be streamed to upload() instead of being read whole.
  virtual bool streams_upload(const Request& req) const = 0;
  virtual boost::asio::awaitable<Reply> upload(const Request& req, BodySource& body) = 0;
  // True if download() answers this request; it either calls sink.start() and writes exactly
  // that many bytes, or returns a Reply without starting.
  virtual bool streams_download(const Request& req) const = 0;
  virtual boost::asio::awaitable<std::optional<Reply>> download(const Request& req,
                                                                BodySink& sink) = 0;
};

struct ServerOptions {
  std::string socket_path;  // "" = none
  unsigned socket_mode = 0600;
  std::string tcp_address;  // "" = none; must be loopback (checked by config and again here)
  uint16_t tcp_port = 0;
};

class HttpServer {
 public:
  HttpServer(boost::asio::any_io_executor ex, std::shared_ptr<Routes> routes);
  ~HttpServer();
  // Binds and starts accepting; fails if the socket belongs to a live daemon.
  core::Result<void> start(const ServerOptions& o);
  void stop();
  uint16_t tcp_port() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace swiftness::admin
