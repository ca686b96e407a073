#include "target/iscsi/login.hpp"

#include <algorithm>
#include <cstring>

#include "target/iscsi/chap.hpp"
#include "target/iscsi/text.hpp"

namespace swiftness::iscsi {
namespace {

// Login Request/Response byte 1: T(7) C(6) CSG(3-2) NSG(1-0).
constexpr uint8_t kTransit = 0x80;
constexpr uint8_t kContinue = 0x40;
int csg_of(uint8_t f) {
  return (f >> 2) & 3;
}
int nsg_of(uint8_t f) {
  return f & 3;
}
constexpr int kFullFeature = 3;

const std::string* find_key(const std::vector<KeyValue>& keys, std::string_view k) {
  for (const auto& kv : keys)
    if (kv.first == k) return &kv.second;
  return nullptr;
}

bool list_contains(std::string_view list, std::string_view item) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    if (list.substr(0, comma) == item) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

constexpr size_t kChapChallengeLength = 16;

// RFC 7143 §6.1: a Login Response carries at most the initiator's MaxRecvDataSegmentLength,
// 8192 during login; we do not split responses over several PDUs, so more text is refused.
constexpr size_t kMaxResponseText = 8192;

// RFC 7143 §4.2.7.1: iSCSI names are UTF-8, at most 223 bytes. Control characters and spaces
// are never part of a name; refusing them keeps raw wire bytes out of logs and the status page.
bool plausible_name(std::string_view s) {
  if (s.empty() || s.size() > 223) return false;
  for (size_t i = 0; i < s.size();) {
    auto c = uint8_t(s[i]);
    size_t len = c < 0x80             ? 1
                 : (c & 0xe0) == 0xc0 ? 2
                 : (c & 0xf0) == 0xe0 ? 3
                 : (c & 0xf8) == 0xf0 ? 4
                                      : 0;
    if (len == 0 || i + len > s.size() || (len == 1 && (c <= 0x20 || c == 0x7f))) return false;
    if (len == 2 && c < 0xc2) return false;  // overlong
    for (size_t k = 1; k < len; ++k)
      if ((uint8_t(s[i + k]) & 0xc0) != 0x80) return false;
    i += len;
  }
  return true;
}

// Initiator-supplied text quoted in a log line: printable ASCII only (so a value cannot forge
// log lines or smuggle terminal escapes), and short.
std::string quoted(std::string_view s) {
  std::string out = "'";
  for (char ch : s.substr(0, 64)) {
    auto c = uint8_t(ch);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out.push_back(ch);
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  out += s.size() > 64 ? "'..." : "'";
  return out;
}

}  // namespace

bool LoginMachine::auth_required() const {
  if (!config_.chap) return false;
  return identity_.type == SessionType::normal || config_.discovery_chap;
}

LoginMachine::Reply LoginMachine::respond(const Pdu& req, uint8_t flags,
                                          std::vector<std::byte> data) {
  Reply r;
  Bhs& b = r.pdu.bhs;
  b.set_opcode(Opcode::login_response);
  b.set_flags(flags);
  b.b[2] = 0;                              // VersionMax
  b.b[3] = 0;                              // VersionActive
  std::memcpy(&b.b[8], &req.bhs.b[8], 6);  // ISID
  b.set_itt(req.bhs.itt());
  b.set_field32(off::kStatSn, stat_sn_++);
  b.set_field32(off::kExpCmdSn, exp_cmd_sn_);
  // During login the window stays closed (MaxCmdSN == ExpCmdSN), as LIO does and Windows
  // accepts; the connection opens it with the first full-feature PDU.
  b.set_field32(off::kMaxCmdSn, exp_cmd_sn_);
  b.set_data_segment_length(uint32_t(data.size()));
  r.pdu.data = std::move(data);
  return r;
}

LoginMachine::Reply LoginMachine::fail(const Pdu& req, LoginStatus status, std::string why) {
  Reply r = respond(req, 0, {});
  r.pdu.bhs.b[36] = uint8_t(uint16_t(status) >> 8);
  r.pdu.bhs.b[37] = uint8_t(uint16_t(status));
  r.failed = true;
  r.log = std::move(why);
  return r;
}

std::optional<LoginMachine::Reply> LoginMachine::first_request(const Pdu& req,
                                                               const std::vector<KeyValue>& keys) {
  const Bhs& b = req.bhs;
  exp_cmd_sn_ = b.field32(off::kCmdSn);
  // RFC 7143 §11.13.5: the first response's StatSN starts the connection's sequence; starting
  // from the initiator's ExpStatSN keeps both sides in step without extra state.
  stat_sn_ = b.field32(off::kExpStatSn);
  std::memcpy(identity_.isid.data(), &b.b[8], 6);
  identity_.tsih = core::load_be16(&b.b[14]);
  identity_.cid = core::load_be16(&b.b[20]);

  // VersionMax (byte 2) and VersionMin (byte 3): we speak version 0 only.
  if (b.b[3] > 0) return fail(req, LoginStatus::unsupported_version, "unsupported version");

  const std::string* name = find_key(keys, "InitiatorName");
  if (!name || name->empty())
    return fail(req, LoginStatus::missing_parameter, "InitiatorName missing");
  if (!plausible_name(*name))
    return fail(req, LoginStatus::initiator_error, "invalid InitiatorName " + quoted(*name));
  identity_.initiator_name = *name;
  if (const std::string* alias = find_key(keys, "InitiatorAlias"))
    identity_.initiator_alias = *alias;

  const std::string* type = find_key(keys, "SessionType");
  if (!type || *type == "Normal") {
    identity_.type = SessionType::normal;
  } else if (*type == "Discovery") {
    identity_.type = SessionType::discovery;
  } else {
    return fail(req, LoginStatus::session_type_not_supported, "SessionType " + quoted(*type));
  }
  negotiator_ = Negotiator(identity_.type, config_.limits);

  if (identity_.type == SessionType::normal) {
    const std::string* target = find_key(keys, "TargetName");
    if (!target) return fail(req, LoginStatus::missing_parameter, "TargetName missing");
    if (*target != config_.target_name)
      return fail(req, LoginStatus::not_found, "unknown TargetName " + quoted(*target));
  }
  if (!config_.allowed_initiators.empty() &&
      std::find(config_.allowed_initiators.begin(), config_.allowed_initiators.end(),
                identity_.initiator_name) == config_.allowed_initiators.end())
    return fail(req, LoginStatus::authorization_failure,
                "initiator " + identity_.initiator_name + " not in the allow list");
  if (identity_.tsih != 0) {
    if (identity_.type != SessionType::normal || !tsih_valid_(identity_))
      return fail(req, LoginStatus::session_does_not_exist, "no session with that TSIH");
  }
  return std::nullopt;
}

std::optional<LoginMachine::Reply> LoginMachine::security(const Pdu& req,
                                                          const std::vector<KeyValue>& keys,
                                                          std::vector<std::byte>& out) {
  auto auth_fail = [&](std::string why) {
    return fail(req, LoginStatus::authentication_failure, std::move(why));
  };
  switch (auth_) {
    case Auth::start: {
      const std::string* methods = find_key(keys, "AuthMethod");
      if (!methods) {
        if (auth_required()) return auth_fail("AuthMethod not offered but CHAP is required");
        auth_ = Auth::done;
        return std::nullopt;
      }
      if (auth_required()) {
        if (!list_contains(*methods, "CHAP")) {
          append_key(out, "AuthMethod", "Reject");
          return auth_fail("initiator did not offer CHAP");
        }
        append_key(out, "AuthMethod", "CHAP");
        auth_ = Auth::chap_algorithm;
        return std::nullopt;
      }
      if (!list_contains(*methods, "None")) {
        append_key(out, "AuthMethod", "Reject");
        return auth_fail("initiator offered only AuthMethod " + quoted(*methods) +
                         " and no secret is configured");
      }
      append_key(out, "AuthMethod", "None");
      auth_ = Auth::done;
      return std::nullopt;
    }
    case Auth::chap_algorithm: {
      const std::string* algs = find_key(keys, "CHAP_A");
      if (!algs) return auth_fail("CHAP_A missing");
      if (!list_contains(*algs, "5")) {
        append_key(out, "CHAP_A", "Reject");
        return auth_fail("CHAP_A offers no MD5");
      }
      chap_id_ = random_bytes(1)[0];
      chap_challenge_ = random_bytes(kChapChallengeLength);
      append_key(out, "CHAP_A", "5");
      append_key(out, "CHAP_I", std::to_string(chap_id_));
      append_key(out, "CHAP_C", encode_hex(chap_challenge_.data(), chap_challenge_.size()));
      auth_ = Auth::chap_response;
      return std::nullopt;
    }
    case Auth::chap_response: {
      const std::string* n = find_key(keys, "CHAP_N");
      const std::string* r = find_key(keys, "CHAP_R");
      if (!n || !r) return auth_fail("CHAP_N or CHAP_R missing");
      auto got = decode_binary(*r);
      ChapDigest want = chap_response(chap_id_, config_.chap->secret, chap_challenge_);
      // One message for a wrong name or a wrong response: never tell which part was wrong.
      bool name_ok = *n == config_.chap->user;
      bool resp_ok =
          got && got->size() == want.size() && equal_secret(got->data(), want.data(), want.size());
      if (!name_ok || !resp_ok) return auth_fail("CHAP authentication failed for " + quoted(*n));

      const std::string* mi = find_key(keys, "CHAP_I");
      const std::string* mc = find_key(keys, "CHAP_C");
      if (mi || mc) {
        // Mutual CHAP: the initiator challenges us.
        if (!mi || !mc) return auth_fail("mutual CHAP needs both CHAP_I and CHAP_C");
        if (!config_.mutual_chap) return auth_fail("mutual CHAP asked but not configured");
        auto id = parse_number(*mi);
        auto challenge = decode_binary(*mc);
        if (!id || *id > 255 || !challenge || challenge->empty() || challenge->size() > 1024)
          return auth_fail("malformed mutual CHAP challenge");
        // A challenge equal to ours is a reflection attack: answering it would hand the
        // initiator the response to our own challenge (RFC 7143 §12.1.3).
        if (*challenge == chap_challenge_) return auth_fail("reflected CHAP challenge");
        ChapDigest resp = chap_response(uint8_t(*id), config_.mutual_chap->secret, *challenge);
        append_key(out, "CHAP_N", config_.mutual_chap->user);
        append_key(out, "CHAP_R", encode_hex(resp.data(), resp.size()));
      }
      auth_ = Auth::done;
      return std::nullopt;
    }
    case Auth::done:
      return std::nullopt;
  }
  return std::nullopt;
}

LoginMachine::Reply LoginMachine::step(const Pdu& req) {
  const Bhs& b = req.bhs;
  uint8_t flags = b.flags();
  bool transit = flags & kTransit;
  int csg = csg_of(flags), nsg = nsg_of(flags);

  if (b.opcode() != Opcode::login_request)
    return fail(req, LoginStatus::initiator_error, "non-login PDU during login");
  if ((transit && (flags & kContinue)) || csg == 2 || (transit && (nsg == 2 || nsg <= csg)))
    return fail(req, LoginStatus::initiator_error, "invalid CSG/NSG/T/C combination");
  if (started_) {
    // ISID and TSIH stay the same for the whole login (RFC 7143 §11.12).
    if (std::memcmp(&b.b[8], identity_.isid.data(), 6) != 0 ||
        core::load_be16(&b.b[14]) != identity_.tsih)
      return fail(req, LoginStatus::initiator_error, "ISID or TSIH changed during login");
    if (csg != stage_) return fail(req, LoginStatus::initiator_error, "unexpected CSG");
  }

  // Text split over several PDUs (C bit): collect, answer with an empty response, go on.
  pending_text_.insert(pending_text_.end(), req.data.begin(), req.data.end());
  if (flags & kContinue) {
    if (pending_text_.size() > 65536)
      return fail(req, LoginStatus::out_of_resources, "login text too long");
    return respond(req, uint8_t(csg << 2), {});
  }
  auto keys = parse_text(pending_text_);
  pending_text_.clear();
  if (!keys) return fail(req, LoginStatus::initiator_error, "malformed login text");

  if (!started_) {
    if (auto r = first_request(req, *keys)) return *r;
    started_ = true;
    stage_ = csg;
  }

  std::vector<std::byte> out;
  if (csg == 0) {
    if (auto r = security(req, *keys, out)) return *r;
  } else {
    if (auth_required() && auth_ != Auth::done)
      return fail(req, LoginStatus::authentication_failure,
                  "operational stage before CHAP authentication");
    for (const auto& kv : *keys)
      if (kv.first == "AuthMethod" || kv.first.starts_with("CHAP_"))
        return fail(req, LoginStatus::initiator_error, "security key in operational stage");
  }
  auto neg = negotiator_.negotiate(*keys);
  if (neg.failed) return fail(req, LoginStatus::initiator_error, quoted(neg.failure));
  for (const auto& [k, v] : neg.response)
    append_key(out, k, v);
  if (out.size() > kMaxResponseText)
    return fail(req, LoginStatus::initiator_error,
                "login response would exceed 8192 bytes (" + std::to_string(neg.response.size()) +
                    " keys to answer)");

  // RFC 7143 §13.9: the first Login Response of a Normal session carries TargetPortalGroupTag;
  // Windows stalls in the security stage without it.
  if (identity_.type == SessionType::normal && !sent_tpgt_) {
    if (!config_.target_alias.empty()) append_key(out, "TargetAlias", config_.target_alias);
    append_key(out, "TargetPortalGroupTag", std::to_string(config_.target_portal_group));
    sent_tpgt_ = true;
  }

  bool can_transit = transit && (csg != 0 || auth_ == Auth::done);
  uint8_t rflags = uint8_t(csg << 2);
  Reply r;
  if (can_transit) {
    rflags |= kTransit | uint8_t(nsg);
    if (nsg == kFullFeature) {
      tsih_ = identity_.tsih ? identity_.tsih : new_tsih_();
      if (tsih_ == 0) return fail(req, LoginStatus::out_of_resources, "no TSIH available");
      r = respond(req, rflags, std::move(out));
      core::store_be16(&r.pdu.bhs.b[14], tsih_);  // the new TSIH only in the final response
      r.complete = true;
      return r;
    }
    stage_ = nsg;
  }
  return respond(req, rflags, std::move(out));
}

}  // namespace swiftness::iscsi
