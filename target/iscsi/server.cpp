#include "target/iscsi/server.hpp"

#include <boost/asio/ip/address.hpp>

#include "core/log.hpp"
#include "target/iscsi/connection.hpp"

namespace asio = boost::asio;

namespace swiftness::iscsi {

Server::Server(asio::any_io_executor ex, std::shared_ptr<TargetContext> ctx)
    : ex_(std::move(ex)), ctx_(std::move(ctx)) {}

core::Result<void> Server::listen() {
  auto log = core::logger("iscsi");
  for (auto& portal : ctx_->config.portals) {
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(portal.address, ec);
    if (ec) {
      log->error("portal {}:{}: invalid address", portal.address, portal.port);
      return std::make_error_code(std::errc::invalid_argument);
    }
    auto acceptor = std::make_shared<asio::ip::tcp::acceptor>(ex_);
    asio::ip::tcp::endpoint ep(addr, portal.port);
    acceptor->open(ep.protocol(), ec);
    if (!ec) acceptor->set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor->bind(ep, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      log->error("portal {}:{}: {}", portal.address, portal.port, ec.message());
      return std::error_code(ec.value(), std::system_category());
    }
    // Port 0 asks the OS for a free port (tests); advertise the one we got.
    portal.port = acceptor->local_endpoint().port();
    log->info("listening on {}:{}", portal.address, portal.port);
    acceptors_.push_back(acceptor);
  }
  for (auto& a : acceptors_)
    accept(a);
  return {};
}

std::vector<uint16_t> Server::bound_ports() const {
  std::vector<uint16_t> out;
  for (auto& a : acceptors_)
    out.push_back(a->local_endpoint().port());
  return out;
}

void Server::accept(std::shared_ptr<asio::ip::tcp::acceptor> acceptor) {
  // The socket gets the io_context's plain executor; the Connection puts its own strand over
  // it. (A socket on a strand of a type-erased executor made Asio heap-allocate a copy of that
  // strand at nearly every operation.)
  acceptor->async_accept(
      ex_, [this, acceptor](boost::system::error_code ec, asio::ip::tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
        if (!ec) {
          if (ctx_->connections.load() >= ctx_->config.max_connections) {
            // Over the limit: refuse at once rather than let idle sockets starve live sessions.
            socket.close(ec);
          } else {
            auto conn = std::make_shared<Connection>(std::move(socket), ctx_);
            std::erase_if(connections_, [](auto& w) { return w.expired(); });
            connections_.push_back(conn);
            conn->start();
          }
        }
        accept(acceptor);
      });
}

void Server::stop() {
  for (auto& a : acceptors_) {
    boost::system::error_code ec;
    a->close(ec);
  }
  for (auto& w : connections_)
    if (auto c = w.lock()) c->close();
}

}  // namespace swiftness::iscsi
