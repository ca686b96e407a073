// Negotiated session and connection parameters (RFC 7143 §13), and the one table that knows how
// each key is negotiated. The result is a struct of ints and bools, never strings re-parsed at use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "target/iscsi/text.hpp"

namespace swiftness::iscsi {

enum class SessionType : uint8_t { normal, discovery };

struct SessionParams {
  // Connection scope.
  bool header_digest = false;
  bool data_digest = false;
  uint32_t initiator_max_recv_data_segment_length = 8192;  // what we may send in one PDU
  uint32_t target_max_recv_data_segment_length = 8192;     // what the initiator may send us
  // Session scope.
  uint32_t max_connections = 1;
  bool initial_r2t = true;
  bool immediate_data = true;
  uint32_t max_burst_length = 262144;
  uint32_t first_burst_length = 65536;
  uint32_t default_time2wait = 2;
  uint32_t default_time2retain = 20;
  uint32_t max_outstanding_r2t = 1;
  bool data_pdu_in_order = true;
  bool data_sequence_in_order = true;
  uint32_t error_recovery_level = 0;
};

// What the target is willing to do; the negotiation result never exceeds it.
struct TargetLimits {
  uint32_t max_recv_data_segment_length = 262144;
  uint32_t max_burst_length = 1048576;
  uint32_t first_burst_length = 262144;
  uint32_t max_outstanding_r2t = 16;
  bool allow_digests = true;
};

// Negotiates the operational keys of one Login or Text request. Keys the table does not know
// are answered NotUnderstood; session keys in a discovery session are Irrelevant. Only keys the
// initiator sent get an answer; declarative keys we must send are added by the caller.
class Negotiator {
 public:
  Negotiator(SessionType type, const TargetLimits& limits) : type_(type), limits_(limits) {}

  struct Outcome {
    std::vector<KeyValue> response;
    bool failed = false;  // an offer we cannot accept and the RFC says the login must fail
    std::string failure;  // why, for the log
  };

  // `leading` is false for keys like MaxConnections offered on a non-leading connection.
  Outcome negotiate(const std::vector<KeyValue>& offers);

  const SessionParams& params() const { return params_; }
  // Keys already settled in this login; a key offered twice is a protocol error (RFC 7143 §6.2).
  bool seen(std::string_view key) const;

 private:
  SessionType type_;
  TargetLimits limits_;
  SessionParams params_;
  std::vector<std::string> seen_;
};

// Parses an RFC 7143 §6 numerical value (decimal, or hex "0x..."); nullopt if malformed.
std::optional<uint64_t> parse_number(std::string_view v);

}  // namespace swiftness::iscsi
