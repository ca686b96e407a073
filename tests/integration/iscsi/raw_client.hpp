// A deliberately simple iSCSI client over a raw socket, for sending what real initiators never
// send. It reuses the target's own PDU reader for the replies.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "target/iscsi/pdu_reader.hpp"
#include "tests/unit/iscsi/pdu_builder.hpp"

namespace swiftness::testing {

using iscsi::Opcode;
using iscsi::Pdu;
using iscsi::testing::PduBuilder;

class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }

  void send_bytes(const std::vector<uint8_t>& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += size_t(n);
    }
  }
  void send(const PduBuilder& b) { send_bytes(b.wire(header_digest_, data_digest_)); }

  // The next PDU, or nullopt on EOF/timeout (`eof` tells which).
  std::optional<Pdu> receive(int timeout_ms = 5000) {
    eof_ = false;
    while (true) {
      if (!pending_.empty()) {
        auto step = reader_.feed(pending_);
        pending_.erase(pending_.begin(), pending_.begin() + long(step.consumed));
        if (step.kind == iscsi::PduReader::Step::Kind::pdu) return reader_.take();
        if (step.kind == iscsi::PduReader::Step::Kind::error) return std::nullopt;
      }
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
      uint8_t buf[65536];
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        eof_ = true;
        return std::nullopt;
      }
      pending_.insert(pending_.end(), buf, buf + n);
    }
  }
  bool saw_eof() const { return eof_; }

  // Exactly `n` bytes off the wire (for clients that frame PDUs themselves, such as the
  // Windows-profile initiator); false on EOF or when `timeout_ms` passes without progress.
  bool read_exact(uint8_t* out, size_t n, int timeout_ms = 5000) {
    eof_ = false;
    while (pending_.size() < n) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, timeout_ms) <= 0) return false;
      uint8_t buf[65536];
      ssize_t got = recv(fd_, buf, sizeof buf, 0);
      if (got <= 0) {
        eof_ = true;
        return false;
      }
      pending_.insert(pending_.end(), buf, buf + got);
    }
    std::copy_n(pending_.begin(), n, out);
    pending_.erase(pending_.begin(), pending_.begin() + long(n));
    return true;
  }
  // Digests apply from the first PDU after the final Login Response (RFC 7143 §13.1).
  void set_digests(bool header_digest, bool data_digest) {
    header_digest_ = header_digest;
    data_digest_ = data_digest;
    reader_.set_limits({header_digest, data_digest, 16u << 20});
  }
  // Drops the connection at once, before the destructor (an initiator giving up on it).
  void close_now() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // A normal-session login with AuthMethod=None; returns false if refused.
  bool login(const std::string& target, const std::string& initiator, bool header_digest = false,
             bool data_digest = false, const std::array<uint8_t, 6>& isid = {0x80, 0, 0, 0, 0, 1}) {
    // Security stage (AuthMethod=None), then the operational stage to full feature phase.
    PduBuilder b(Opcode::login_request, true);
    b.flags(0x81).isid(isid).itt(0x1000).field32(24, cmd_sn_).field32(28, 0);
    b.key("InitiatorName", initiator).key("SessionType", "Normal").key("TargetName", target);
    b.key("AuthMethod", "None");
    send(b);
    auto r = receive();
    if (!r || r->bhs.opcode() != Opcode::login_response || r->bhs.b[36] != 0) return false;
    PduBuilder c(Opcode::login_request, true);
    c.flags(0x87).isid(isid).itt(0x1000).field32(24, cmd_sn_).field32(28, r->bhs.field32(24) + 1);
    c.key("HeaderDigest", header_digest ? "CRC32C" : "None");
    c.key("DataDigest", data_digest ? "CRC32C" : "None");
    c.key("MaxRecvDataSegmentLength", "65536");
    c.key("InitialR2T", "Yes").key("ImmediateData", "Yes");
    send(c);
    r = receive();
    if (!r || r->bhs.b[36] != 0 || (r->bhs.flags() & 0x83) != 0x83) return false;
    exp_stat_sn_ = r->bhs.field32(24) + 1;
    max_cmd_sn_ = r->bhs.field32(32);
    header_digest_ = header_digest;
    data_digest_ = data_digest;
    reader_.set_limits({header_digest, data_digest, 16u << 20});
    return true;
  }

  // TEST UNIT READY on LUN 0 with the given CmdSN (default: the next one).
  PduBuilder test_unit_ready(uint32_t itt, std::optional<uint32_t> cmd_sn = {}) {
    PduBuilder b(Opcode::scsi_command);
    b.flags(0x80).itt(itt).field32(20, 0).field32(24, cmd_sn ? *cmd_sn : cmd_sn_++);
    b.field32(28, exp_stat_sn_);
    return b;
  }
  PduBuilder nop_out(uint32_t itt, std::vector<std::byte> data = {}) {
    PduBuilder b(Opcode::nop_out, true);
    b.flags(0x80).itt(itt).field32(20, 0xffffffff).field32(24, cmd_sn_).field32(28, exp_stat_sn_);
    if (!data.empty()) b.data(std::move(data));
    return b;
  }

  uint32_t cmd_sn() const { return cmd_sn_; }
  uint32_t max_cmd_sn() const { return max_cmd_sn_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  bool header_digest_ = false;
  bool data_digest_ = false;
  iscsi::PduReader reader_{{false, false, 16u << 20}};
  std::vector<uint8_t> pending_;
  uint32_t cmd_sn_ = 1;
  uint32_t exp_stat_sn_ = 0;
  uint32_t max_cmd_sn_ = 0;
};

}  // namespace swiftness::testing
