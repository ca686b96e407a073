#include "target/iscsi/connection.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <cstring>

#include "core/crc32c.hpp"
#include "target/iscsi/text.hpp"

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;

namespace swiftness::iscsi {

namespace {

// The io_context's executor under the socket's type-erased one. Every socket here belongs to
// an io_context (the daemon runs no other execution context), so the cast holds when the
// socket's executor is something else on it, such as a strand.
asio::io_context::executor_type io_executor_of(asio::ip::tcp::socket& s) {
  if (auto* plain = s.get_executor().target<asio::io_context::executor_type>()) return *plain;
  auto& context = asio::query(s.get_executor(), asio::execution::context);
  return static_cast<asio::io_context&>(context).get_executor();
}

}  // namespace

Connection::Connection(asio::ip::tcp::socket socket, std::shared_ptr<TargetContext> ctx)
    : ctx_owner_(std::move(ctx)),
      ctx_(*ctx_owner_),
      socket_(std::move(socket)),
      strand_(asio::make_strand(io_executor_of(socket_))),
      log_(core::logger("iscsi")),
      drained_(strand_),
      login_timer_(strand_),
      ping_timer_(strand_) {
  boost::system::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  peer_ = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  ++ctx_.connections;
}

Connection::~Connection() {
  --ctx_.connections;
}

void Connection::start() {
  auto self = shared_from_this();
  asio::co_spawn(
      strand_, [self]() { return self->run(); }, asio::detached);
}

void Connection::close() {
  asio::post(strand_, [self = shared_from_this()] {
    if (self->closing_) return;
    self->closing_ = true;
    boost::system::error_code ec;
    self->socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    self->socket_.close(ec);
    self->login_timer_.cancel();
    self->ping_timer_.cancel();
    self->drained_.cancel();
  });
}

awaitable<void> Connection::run() {
  auto self = shared_from_this();
  login_.emplace(
      ctx_.login_config(),
      [this](const LoginIdentity& id) {
        return ctx_.sessions.tsih_valid(id.initiator_name, id.isid, id.tsih);
      },
      [this] { return ctx_.sessions.new_tsih(); });
  asio::co_spawn(strand_, login_timer(), asio::detached);

  std::vector<uint8_t> buf(256 * 1024);
  last_rx_ = last_tx_ = std::chrono::steady_clock::now();
  while (!closing_) {
    // Responses of commands that finished meanwhile may have filled the queue.
    if (must_pause(kOutputHighWater)) co_await wait_for_drain();
    if (closing_) break;
    boost::system::error_code ec;
    // The rest of a large steered payload goes from the socket straight to the task buffer.
    auto room = reader_.direct_room();
    bool direct = room.size() >= kDirectReadMin;
    size_t header_only = kBhsLength + (params_.header_digest ? 4 : 0);
    auto into = direct             ? asio::buffer(room.data(), room.size())
                : expect_data_out_ ? asio::buffer(buf.data(), header_only)
                                   : asio::buffer(buf);
    expect_data_out_ = false;  // once: the rest of a PDU that is not one goes through `buf`
    size_t n = co_await socket_.async_read_some(into, asio::redirect_error(use_awaitable, ec));
    if (ec || n == 0) break;
    last_rx_ = std::chrono::steady_clock::now();
    std::span<const uint8_t> in;
    if (direct)
      reader_.landed(n);
    else
      in = std::span<const uint8_t>(buf.data(), n);
    // After a direct read the reader may complete the PDU with no new input.
    bool landed = direct;
    while ((!in.empty() || landed) && !closing_) {
      landed = false;
      auto step = reader_.feed(in);
      in = in.subspan(step.consumed);
      if (step.kind == PduReader::Step::Kind::need_more) break;
      if (step.kind == PduReader::Step::Kind::header) {
        auto to = data_out_target(reader_.header());
        if (!to.empty()) {
          steered_ = tasks_.at(reader_.header().itt())->buffer;
          reader_.steer(to);
        }
        continue;
      }
      if (step.kind == PduReader::Step::Kind::error) {
        Pdu bad = reader_.take();
        uint64_t dropped = 0;
        if (ctx_.allow_connection_log(dropped))
          log_->warn("{}: protocol error: {} (opcode 0x{:02x}){}", peer_, step.error.what,
                     uint8_t(bad.bhs.opcode()),
                     dropped ? fmt::format(" [{} similar suppressed]", dropped) : "");
        if (step.error.action != ProtocolError::Action::close && logged_in_)
          send_reject(bad.bhs, step.error.reason);
        closing_ = true;
        break;
      }
      Pdu pdu = reader_.take();
      if (!logged_in_)
        co_await handle_login(pdu);
      else
        handle_pdu(std::move(pdu));
      expect_data_out_ = steered_ != nullptr;
      steered_.reset();
      // The rest of `buf` waits: one read may hold thousands of small commands.
      if (must_pause(kOutputHighWater)) co_await wait_for_drain();
    }
  }
  closing_ = true;
  login_timer_.cancel();
  ping_timer_.cancel();
  drained_.cancel();
  // Let queued responses (a final Login Response, a Logout Response, a Reject) reach the wire.
  for (int i = 0; i < 200 && writing_; ++i) {
    asio::steady_timer t(strand_, std::chrono::milliseconds(5));
    co_await t.async_wait(use_awaitable);
  }
  boost::system::error_code ec;
  socket_.close(ec);
  // Writes waiting for data or budget go now with their buffers; running commands end on
  // their own and answer nobody.
  abort_tasks(std::nullopt);
  end_nexus();
  if (logged_in_) log_->info("{}: session of {} closed", peer_, identity_.initiator_name);
}

void Connection::end_nexus() {
  if (!registered_) return;
  registered_ = false;
  if (ctx_.sessions.unregister(identity_.initiator_name, identity_.isid, this))
    ctx_.devices->nexus_removed(*nexus_);
}

awaitable<void> Connection::login_timer() {
  auto self = shared_from_this();
  login_timer_.expires_after(ctx_.config.timeouts.login);
  boost::system::error_code ec;
  co_await login_timer_.async_wait(asio::redirect_error(use_awaitable, ec));
  if (!logged_in_ && !closing_) {
    uint64_t dropped = 0;
    if (log_limit_.allow(dropped)) log_->warn("{}: login timed out", peer_);
    ++ctx_.logins_failed;
    closing_ = true;
    socket_.close(ec);
  }
}

awaitable<void> Connection::wait_for_drain() {
  reading_paused_ = true;
  while (must_pause(kOutputLowWater) && !closing_) {
    // write_loop and execute cancel the timer once there is room or the connection fails; the
    // period only re-checks should a path that changes the state not cancel us.
    drained_.expires_after(std::chrono::seconds(1));
    boost::system::error_code ec;
    co_await drained_.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  reading_paused_ = false;
}

awaitable<void> Connection::ping_loop() {
  auto self = shared_from_this();
  const auto& t = ctx_.config.timeouts;
  // Half the shortest period this loop watches. nop_interval 0 (never ping) is left out: it
  // made the period zero, a loop that never slept.
  auto period = std::min(t.nop_timeout, t.slow_command);
  if (t.nop_interval.count() > 0) period = std::min(period, t.nop_interval);
  period /= 2;
  while (!closing_) {
    ping_timer_.expires_after(period);
    boost::system::error_code ec;
    co_await ping_timer_.async_wait(asio::redirect_error(use_awaitable, ec));
    if (closing_) break;
    auto now = std::chrono::steady_clock::now();
    report_slow_commands(now);
    if (ping_ttt_) {
      // Our bytes being taken off the socket is a sign of life too: while the read loop is
      // paused for back-pressure a slow but live reader sends nothing we would see, and the
      // ping waits behind the backlog. A peer that neither sends nor reads is dropped.
      auto last_seen = std::max(last_rx_, last_tx_);
      if (now - ping_sent_ > t.nop_timeout && now - last_seen > t.nop_timeout) {
        log_->warn("{}: no answer to NOP-In for {} ms, dropping the connection", peer_,
                   t.nop_timeout.count());
        closing_ = true;
        socket_.close(ec);
        drained_.cancel();
      }
      continue;
    }
    if (now - last_rx_ >= t.nop_interval && t.nop_interval.count() > 0) {
      uint32_t ttt = next_ttt_++;
      if (next_ttt_ == kReservedTag) next_ttt_ = 1;
      ping_ttt_ = ttt;
      ping_sent_ = now;
      OutPdu p;
      p.bhs = make_nop_in(kReservedTag, ttt, 0, 0);
      queue(std::move(p));
    }
  }
}

// Every storage call is bounded (Swift waits by read_wait_limit_s / write_wait_limit_s), so a
// command still at the device after timeouts.slow_command is a bug or a stuck disk: an
// administrator (and a failed test far away) needs to see which command, on which LUN, since when.
void Connection::report_slow_commands(std::chrono::steady_clock::time_point now) {
  for (auto& [itt, t] : tasks_) {
    if (!t->executing || t->reported_slow || now - t->started < ctx_.config.timeouts.slow_command)
      continue;
    t->reported_slow = true;
    ++ctx_.slow_commands;
    const auto age = std::chrono::duration_cast<std::chrono::seconds>(now - t->started);
    log_->warn(
        "{}: command ITT 0x{:08x} (opcode 0x{:02x}, LUN {}, {} bytes) has been at the "
        "device for {} s and is not done",
        peer_, itt, t->cdb.empty() ? 0 : t->cdb[0], t->lun_id, t->edtl, age.count());
  }
}

void Connection::stamp(Bhs& b) {
  if (advances_stat_sn(b))
    b.set_field32(off::kStatSn, stat_sn_++);
  else if (b.opcode() != Opcode::data_in)
    b.set_field32(off::kStatSn, stat_sn_);
  b.set_field32(off::kExpCmdSn, window_.exp_cmd_sn());
  b.set_field32(off::kMaxCmdSn, window_.advertise(free_slots()));
}

uint32_t Connection::free_slots() const {
  uint32_t max = ctx_.config.max_tasks_per_session;
  return tasks_.size() >= max ? 0 : uint32_t(max - tasks_.size());
}

void Connection::queue(OutPdu p) {
  if (closing_ && !writing_) return;
  // Login Responses carry the login machine's own sequence numbers.
  if (logged_in_ && p.bhs.opcode() != Opcode::login_response) stamp(p.bhs);
  out_bytes_ += queued_size(p);
  out_.push_back(std::move(p));
  if (!writing_) {
    writing_ = true;
    asio::co_spawn(strand_, write_loop(), asio::detached);
  }
}

awaitable<void> Connection::write_loop() {
  auto self = shared_from_this();
  static const std::array<uint8_t, 4> kZeros{};
  std::vector<asio::const_buffer> bufs;
  while (!out_.empty()) {
    // Send what is queued in one gathered write: fewer system calls under load.
    size_t batch = 0, batch_bytes = 0;
    bufs.clear();
    for (; batch < out_.size() && batch < 64 && batch_bytes < kWriteBatchBytes; ++batch) {
      OutPdu& p = out_[batch];
      batch_bytes += queued_size(p);
      // Digests start with the first PDU after the final Login Response (RFC 7143 §13.1).
      bool login = p.bhs.opcode() == Opcode::login_response;
      bool hd = params_.header_digest && !login;
      bool dd = params_.data_digest && !login;
      std::span<const std::byte> data =
          p.data.empty() ? std::span<const std::byte>(p.owned) : p.data;
      bufs.emplace_back(p.bhs.b.data(), p.bhs.b.size());
      if (hd) {
        store_digest(p.header_digest.data(), core::crc32c(std::span<const uint8_t>(p.bhs.b)));
        bufs.emplace_back(p.header_digest.data(), 4);
      }
      if (!data.empty()) {
        bufs.emplace_back(data.data(), data.size());
        size_t pad = pad4(data.size());
        if (pad) bufs.emplace_back(kZeros.data(), pad);
        if (dd) {
          uint32_t crc = core::crc32c(data);
          if (pad) crc = core::crc32c(std::span<const uint8_t>(kZeros.data(), pad), crc);
          store_digest(p.data_digest.data(), crc);
          bufs.emplace_back(p.data_digest.data(), 4);
        }
      }
    }
    boost::system::error_code ec;
    co_await asio::async_write(socket_, bufs, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      out_.clear();
      out_bytes_ = 0;
      closing_ = true;
      socket_.close(ec);
      drained_.cancel();
      break;
    }
    out_.erase(out_.begin(), out_.begin() + long(batch));
    out_bytes_ -= batch_bytes;
    last_tx_ = std::chrono::steady_clock::now();
    if (reading_paused_ && !must_pause(kOutputLowWater)) drained_.cancel();
  }
  writing_ = false;
}

void Connection::send_reject(const Bhs& offending, RejectReason reason) {
  ++ctx_.rejects_sent;
  OutPdu p;
  p.bhs = make_reject(reason, 0);
  p.owned.resize(kBhsLength);
  std::memcpy(p.owned.data(), offending.b.data(), kBhsLength);
  queue(std::move(p));
}

// ---------------------------------------------------------------------------------------------
// Login phase

awaitable<void> Connection::handle_login(const Pdu& pdu) {
  auto self = shared_from_this();
  auto reply = login_->step(pdu);
  OutPdu p;
  p.bhs = reply.pdu.bhs;
  p.owned = std::move(reply.pdu.data);
  if (reply.failed) {
    ++ctx_.logins_failed;
    uint64_t dropped = 0;
    if (ctx_.allow_connection_log(dropped))
      log_->warn("{}: login failed (status 0x{:02x}{:02x}): {}{}", peer_, p.bhs.b[36], p.bhs.b[37],
                 reply.log, dropped ? fmt::format(" [{} similar suppressed]", dropped) : "");
    queue(std::move(p));
    closing_ = true;
    co_return;
  }
  if (reply.complete) {
    if (auto displaced = login_complete(*login_)) {
      // Named first: GCC 12 destroys temporaries in a co_await expression twice.
      auto ending = end_displaced_session(std::move(displaced));
      co_await std::move(ending);
    }
    // The final Login Response opens the command window: Windows sends one command into a
    // window of one and then waits forever for it to open.
    p.bhs.set_field32(off::kMaxCmdSn, window_.advertise(free_slots()));
  }
  queue(std::move(p));
  if (reply.complete) {
    login_.reset();
    login_timer_.cancel();
    asio::co_spawn(strand_, ping_loop(), asio::detached);
  }
}

// RFC 7143 §6.3.5: reinstating a session terminates the old session's tasks. One of them may
// be at the device (a write on its way into the cache, a read waiting for Swift) and cannot be
// stopped half way: the new session's final Login Response waits until it has ended, or an
// initiator's retried WRITE could be overtaken by the old copy landing later. Storage calls are
// bounded, so is this wait (and abort_and_wait has its own deadline).
awaitable<void> Connection::end_displaced_session(std::shared_ptr<Connection> old) {
  old->close();
  auto op = old->abort_and_wait(std::nullopt, std::nullopt);
  (void)co_await asio::co_spawn(old->strand(), std::move(op), use_awaitable);
}

std::shared_ptr<Connection> Connection::login_complete(const LoginMachine& m) {
  std::shared_ptr<Connection> displaced;
  identity_ = m.identity();
  params_ = m.params();
  stat_sn_ = m.next_stat_sn();
  window_.reset(m.exp_cmd_sn());
  logged_in_ = true;
  ++ctx_.logins_ok;
  reader_.set_limits(
      {params_.header_digest, params_.data_digest, params_.target_max_recv_data_segment_length});
  reader_.announce_data_out(true);
  if (identity_.type == SessionType::normal) {
    nexus_ = std::make_shared<scsi::Nexus>();
    nexus_->initiator_name = identity_.initiator_name;
    nexus_->isid = identity_.isid;
    nexus_->target_portal_group = ctx_.config.login.target_portal_group;
    nexus_->target_name = ctx_.config.login.target_name;
    nexus_->id = ctx_.sessions.nexus_id(nexus_->initiator_port_name());
    auto old = ctx_.sessions.register_session(identity_.initiator_name, identity_.isid, m.tsih(),
                                              shared_from_this());
    registered_ = true;
    if (old && old.get() != this) {
      log_->info("{}: session reinstatement for {}, closing the previous connection {}", peer_,
                 identity_.initiator_name, old->peer());
      displaced = std::move(old);
    }
    ctx_.devices->nexus_added(nexus_);
  }
  log_->info(
      "{}: {} session for {} (TSIH {}, digests {}/{}, MRDSL {}/{}, burst {}/{}, R2T {} "
      "imm {})",
      peer_, identity_.type == SessionType::normal ? "normal" : "discovery",
      identity_.initiator_name, m.tsih(), params_.header_digest, params_.data_digest,
      params_.initiator_max_recv_data_segment_length, params_.target_max_recv_data_segment_length,
      params_.first_burst_length, params_.max_burst_length, params_.initial_r2t,
      params_.immediate_data);
  return displaced;
}

// ---------------------------------------------------------------------------------------------
// Full feature phase: sequencing

void Connection::handle_pdu(Pdu pdu) {
  const Bhs& b = pdu.bhs;
  Opcode op = b.opcode();
  if (op == Opcode::data_out) return handle_data_out(std::move(pdu));
  if (op == Opcode::nop_out && b.itt() == kReservedTag) return handle_nop_out(std::move(pdu));
  if (op == Opcode::snack_request) return send_reject(b, RejectReason::snack_reject);
  if (op != Opcode::scsi_command && op != Opcode::task_mgmt_request && op != Opcode::text_request &&
      op != Opcode::logout_request && op != Opcode::nop_out)
    return send_reject(b, RejectReason::command_not_supported);

  if (b.immediate()) return dispatch_ordered(std::move(pdu));
  uint32_t cmd_sn = b.field32(off::kCmdSn);
  switch (window_.classify(cmd_sn)) {
    case CmdWindow::Verdict::outside: {
      // RFC 7143 §4.2.2.1: outside the window (a duplicate or beyond MaxCmdSN) is ignored.
      uint64_t dropped = 0;
      if (log_limit_.allow(dropped))
        log_->warn("{}: CmdSN {} outside [{}, {}], ignored", peer_, cmd_sn, window_.exp_cmd_sn(),
                   window_.max_cmd_sn());
      return;
    }
    case CmdWindow::Verdict::ahead:
      held_.emplace(cmd_sn, std::move(pdu));
      return;
    case CmdWindow::Verdict::in_order:
      window_.advance();
      dispatch_ordered(std::move(pdu));
      // Deliver anything held that is now in order.
      for (auto it = held_.find(window_.exp_cmd_sn()); it != held_.end() && !closing_;
           it = held_.find(window_.exp_cmd_sn())) {
        Pdu next = std::move(it->second);
        held_.erase(it);
        window_.advance();
        dispatch_ordered(std::move(next));
      }
      return;
  }
}

void Connection::dispatch_ordered(Pdu pdu) {
  bool discovery = identity_.type == SessionType::discovery;
  switch (pdu.bhs.opcode()) {
    case Opcode::scsi_command:
      if (discovery) return send_reject(pdu.bhs, RejectReason::protocol_error);
      return handle_scsi_command(std::move(pdu));
    case Opcode::task_mgmt_request:
      if (discovery) return send_reject(pdu.bhs, RejectReason::protocol_error);
      return handle_tmf(pdu);
    case Opcode::text_request:
      return handle_text(pdu);
    case Opcode::logout_request:
      return handle_logout(pdu);
    case Opcode::nop_out:
      return handle_nop_out(std::move(pdu));
    default:
      return send_reject(pdu.bhs, RejectReason::command_not_supported);
  }
}

void Connection::handle_nop_out(Pdu pdu) {
  const Bhs& b = pdu.bhs;
  if (b.itt() == kReservedTag) {
    // The answer to our ping (or an unsolicited NOP-Out that wants no answer).
    if (ping_ttt_ && b.field32(off::kTtt) == *ping_ttt_) ping_ttt_.reset();
    return;
  }
  OutPdu p;
  // RFC 7143 §11.18: the ping data comes back in the NOP-In.
  p.owned.assign(pdu.data.begin(), pdu.data.end());
  if (p.owned.size() > params_.initiator_max_recv_data_segment_length)
    p.owned.resize(params_.initiator_max_recv_data_segment_length);
  p.bhs = make_nop_in(b.itt(), kReservedTag, b.lun(), uint32_t(p.owned.size()));
  queue(std::move(p));
}

void Connection::append_send_targets(std::vector<std::byte>& out, std::string_view which) {
  const auto& cfg = ctx_.config;
  if (which != "All" && which != cfg.login.target_name && !which.empty()) return;
  append_key(out, "TargetName", cfg.login.target_name);
  boost::system::error_code ec;
  auto local = socket_.local_endpoint(ec);
  for (const auto& portal : cfg.portals) {
    std::string addr = portal.address;
    // A wildcard portal is advertised as the address this connection arrived on: the initiator
    // connects to what we send (Windows does), so it must be reachable.
    if ((addr == "0.0.0.0" || addr == "::") && !ec) addr = local.address().to_string();
    if (addr.find(':') != std::string::npos) addr = "[" + addr + "]";
    append_key(out, "TargetAddress",
               addr + ":" + std::to_string(portal.port) + "," +
                   std::to_string(cfg.login.target_portal_group));
  }
}

void Connection::handle_text(const Pdu& pdu) {
  const Bhs& b = pdu.bhs;
  std::vector<std::byte> out;
  bool more_from_initiator = b.flags() & 0x40;
  if (!more_from_initiator) {
    auto keys = parse_text(pdu.data);
    if (!keys) return send_reject(b, RejectReason::protocol_error);
    for (const auto& [k, v] : *keys) {
      if (k == "SendTargets") {
        // In a normal session only the session's own target may be reported (RFC 7143 §12.3).
        if (identity_.type == SessionType::normal && v == "All")
          append_send_targets(out, ctx_.config.login.target_name);
        else
          append_send_targets(out, v);
      } else {
        append_key(out, k, "NotUnderstood");
      }
    }
  }
  if (out.size() > params_.initiator_max_recv_data_segment_length)
    out.resize(params_.initiator_max_recv_data_segment_length);  // one target: never this big
  OutPdu p;
  p.bhs = make_text_response(b.itt(), more_from_initiator ? next_ttt_++ : kReservedTag,
                             !more_from_initiator, false, uint32_t(out.size()));
  p.bhs.set_lun(b.lun());
  p.owned = std::move(out);
  queue(std::move(p));
}

void Connection::handle_logout(const Pdu& pdu) {
  asio::co_spawn(strand_, run_logout(std::make_shared<const Pdu>(pdu)), asio::detached);
}

awaitable<void> Connection::run_logout(std::shared_ptr<const Pdu> pdu) {
  auto self = shared_from_this();
  const Bhs& b = pdu->bhs;
  uint8_t reason = b.flags() & 0x7f;
  uint8_t response = 0;
  if (reason == 2) {
    response = 2;  // connection recovery is not supported at ERL 0
  } else if (reason == 1 && core::load_be16(&b.b[20]) != identity_.cid) {
    response = 1;  // CID not found
  } else {
    // The session ends: its tasks are aborted and must be gone before we answer.
    {
      // Named first: GCC 12 destroys temporaries in a co_await expression twice.
      auto aborted = abort_tasks(std::nullopt);
      co_await wait_for_tasks(std::move(aborted));
    }
    // The I_T nexus is gone once the initiator sees the Logout Response, so the SCSI layer
    // must know before it is sent: another initiator may RESERVE right after (SPC-2 5.5.1).
    end_nexus();
  }
  OutPdu p;
  p.bhs = make_logout_response(b.itt(), response, 0, 0);
  queue(std::move(p));
  if (response == 0) {
    log_->info("{}: logout of {}", peer_, identity_.initiator_name);
    closing_ = true;
    // The read loop is parked in a read; ending it lets run() flush and close.
    boost::system::error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_receive, ec);
  }
}

}  // namespace swiftness::iscsi
