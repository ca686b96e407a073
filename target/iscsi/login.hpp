// The login phase as a pure state machine (RFC 7143 §6.3, §11.12-11.13): one Login Request in,
// one Login Response out. No sockets and no clocks, so it is tested with scripted PDUs.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "target/iscsi/params.hpp"
#include "target/iscsi/pdu.hpp"

namespace swiftness::iscsi {

struct ChapCredentials {
  std::string user;
  std::string secret;
};

struct LoginConfig {
  std::string target_name;
  std::string target_alias;
  uint16_t target_portal_group = 1;
  std::optional<ChapCredentials> chap;          // initiators must authenticate with this
  std::optional<ChapCredentials> mutual_chap;   // how the target authenticates itself
  bool discovery_chap = false;                  // require CHAP for discovery sessions too
  std::vector<std::string> allowed_initiators;  // empty: everyone
  TargetLimits limits;
};

// Login status class and detail, RFC 7143 §11.13.5.
enum class LoginStatus : uint16_t {
  success = 0x0000,
  initiator_error = 0x0200,
  authentication_failure = 0x0201,
  authorization_failure = 0x0202,
  not_found = 0x0203,
  unsupported_version = 0x0205,
  missing_parameter = 0x0207,
  session_type_not_supported = 0x0209,
  session_does_not_exist = 0x020a,
  invalid_during_login = 0x020b,
  target_error = 0x0300,
  out_of_resources = 0x0302,
};

struct LoginIdentity {
  std::string initiator_name;
  std::string initiator_alias;
  std::array<uint8_t, 6> isid{};
  uint16_t tsih = 0;  // from the request: 0 for a new session
  uint16_t cid = 0;
  SessionType type = SessionType::normal;
};

class LoginMachine {
 public:
  // `tsih_valid` answers whether a login with a non-zero TSIH names an existing session of this
  // initiator and ISID (connection reinstatement); `new_tsih` allocates one for a new session.
  LoginMachine(LoginConfig config, std::function<bool(const LoginIdentity&)> tsih_valid,
               std::function<uint16_t()> new_tsih)
      : config_(std::move(config)),
        tsih_valid_(std::move(tsih_valid)),
        new_tsih_(std::move(new_tsih)),
        negotiator_(SessionType::normal, config_.limits) {}

  struct Reply {
    Pdu pdu;                // the Login Response
    bool complete = false;  // full feature phase starts after sending it
    bool failed = false;    // close the connection after sending it
    std::string log;        // why it failed, for a rate-limited log line (no secrets)
  };
  Reply step(const Pdu& request);

  const LoginIdentity& identity() const { return identity_; }
  const SessionParams& params() const { return negotiator_.params(); }
  uint32_t exp_cmd_sn() const { return exp_cmd_sn_; }
  uint32_t next_stat_sn() const { return stat_sn_; }
  uint16_t tsih() const { return tsih_; }

 private:
  enum class Auth { start, chap_algorithm, chap_response, done };

  Reply respond(const Pdu& req, uint8_t flags, std::vector<std::byte> data);
  Reply fail(const Pdu& req, LoginStatus status, std::string why);
  std::optional<Reply> first_request(const Pdu& req, const std::vector<KeyValue>& keys);
  std::optional<Reply> security(const Pdu& req, const std::vector<KeyValue>& keys,
                                std::vector<std::byte>& out);
  bool auth_required() const;

  LoginConfig config_;
  std::function<bool(const LoginIdentity&)> tsih_valid_;
  std::function<uint16_t()> new_tsih_;
  Negotiator negotiator_;
  LoginIdentity identity_;
  bool started_ = false;
  bool sent_tpgt_ = false;
  int stage_ = 0;  // current stage: 0 security, 1 operational
  Auth auth_ = Auth::start;
  uint8_t chap_id_ = 0;
  std::vector<uint8_t> chap_challenge_;
  std::vector<std::byte> pending_text_;  // text of requests with the C bit set
  uint32_t exp_cmd_sn_ = 0;
  uint32_t stat_sn_ = 0;
  uint16_t tsih_ = 0;
};

}  // namespace swiftness::iscsi
