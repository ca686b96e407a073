// Listens on the target's portals and hands each TCP connection to a Connection.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <vector>

#include "core/result.hpp"
#include "target/iscsi/target_context.hpp"

namespace swiftness::iscsi {

class Server {
 public:
  Server(boost::asio::any_io_executor ex, std::shared_ptr<TargetContext> ctx);

  // Binds every portal (port 0 picks a free port; see bound_ports()). Errors name the portal.
  core::Result<void> listen();
  std::vector<uint16_t> bound_ports() const;
  // Stops accepting and drops every connection.
  void stop();
  TargetContext& context() { return *ctx_; }

 private:
  void accept(std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor);

  boost::asio::any_io_executor ex_;
  std::shared_ptr<TargetContext> ctx_;
  std::vector<std::shared_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  std::vector<std::weak_ptr<class Connection>> connections_;
};

}  // namespace swiftness::iscsi
