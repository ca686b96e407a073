// The CLI's side of the admin endpoint: blocking HTTP/1.1 over the Unix socket (or the loopback
// port), with streamed bodies for disk images. One request per connection: the CLI is short-lived.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <ostream>
#include <string>

#include "core/result.hpp"

namespace swiftness::admin {

struct Endpoint {
  std::string socket_path;  // preferred when set
  std::string tcp_address;
  uint16_t tcp_port = 0;
  std::string describe() const;
};

struct Response {
  int status = 0;
  std::string body;
};

// Progress callback: bytes done so far.
using ProgressFn = std::function<void(uint64_t)>;

class Client {
 public:
  explicit Client(Endpoint ep) : ep_(std::move(ep)) {}
  // A small request; the error is set when the daemon cannot be reached.
  core::Result<Response> call(const std::string& method, const std::string& target);
  // PUT `length` bytes from `in` as the body.
  core::Result<Response> upload(const std::string& target, std::istream& in, uint64_t length,
                                const ProgressFn& progress);
  // GET into `out`; `length` receives the announced size before the first byte (for progress).
  // A non-200 answer comes back in Response with its body; a short body is an error.
  core::Result<Response> download(const std::string& target, std::ostream& out,
                                  const std::function<void(uint64_t)>& length,
                                  const ProgressFn& progress);

 private:
  Endpoint ep_;
};

}  // namespace swiftness::admin
