#include "target/iscsi/params.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace swiftness::iscsi {
namespace {

// How a key's result is computed from the initiator's offer and our value (RFC 7143 §6.2).
enum class Rule : uint8_t {
  digest_list,      // list: first value of the offer that we support
  bool_or,          // result Yes if either side says Yes
  bool_and,         // result Yes only if both say Yes
  number_min,       // result is the smaller value
  number_max,       // result is the larger value
  declarative,      // initiator declares, we record; no answer (except MRDSL: we declare ours)
  declared_only,    // login keys handled elsewhere (InitiatorName...): accepted, no answer
  target_only,      // a key only the target may send: an initiator offering it is answered Reject
  markers,          // obsolete markers: always No
  marker_interval,  // obsolete marker intervals: Irrelevant when markers are off
  always_no,        // features we do not offer (RDMA extensions)
};

struct KeySpec {
  std::string_view name;
  Rule rule;
  uint64_t lo = 0, hi = 0;    // valid range for numbers
  bool session_only = false;  // Irrelevant in a discovery session (RFC 7143 §13)
  bool SessionParams::*flag = nullptr;
  uint32_t SessionParams::*number = nullptr;
};

// The one table of operational keys. Ranges and scopes from RFC 7143 §13.
constexpr std::array kKeys{
    KeySpec{"HeaderDigest", Rule::digest_list, 0, 0, false, &SessionParams::header_digest},
    KeySpec{"DataDigest", Rule::digest_list, 0, 0, false, &SessionParams::data_digest},
    KeySpec{"MaxConnections", Rule::number_min, 1, 65535, true, nullptr,
            &SessionParams::max_connections},
    KeySpec{"InitialR2T", Rule::bool_or, 0, 0, true, &SessionParams::initial_r2t},
    KeySpec{"ImmediateData", Rule::bool_and, 0, 0, true, &SessionParams::immediate_data},
    KeySpec{"MaxRecvDataSegmentLength", Rule::declarative, 512, 16777215, false, nullptr,
            &SessionParams::initiator_max_recv_data_segment_length},
    KeySpec{"MaxBurstLength", Rule::number_min, 512, 16777215, true, nullptr,
            &SessionParams::max_burst_length},
    KeySpec{"FirstBurstLength", Rule::number_min, 512, 16777215, true, nullptr,
            &SessionParams::first_burst_length},
    KeySpec{"DefaultTime2Wait", Rule::number_max, 0, 3600, false, nullptr,
            &SessionParams::default_time2wait},
    KeySpec{"DefaultTime2Retain", Rule::number_min, 0, 3600, false, nullptr,
            &SessionParams::default_time2retain},
    KeySpec{"MaxOutstandingR2T", Rule::number_min, 1, 65535, true, nullptr,
            &SessionParams::max_outstanding_r2t},
    KeySpec{"DataPDUInOrder", Rule::bool_or, 0, 0, true, &SessionParams::data_pdu_in_order},
    KeySpec{"DataSequenceInOrder", Rule::bool_or, 0, 0, true,
            &SessionParams::data_sequence_in_order},
    KeySpec{"ErrorRecoveryLevel", Rule::number_min, 0, 2, false, nullptr,
            &SessionParams::error_recovery_level},
    KeySpec{"IFMarker", Rule::markers},
    KeySpec{"OFMarker", Rule::markers},
    KeySpec{"IFMarkInt", Rule::marker_interval},
    KeySpec{"OFMarkInt", Rule::marker_interval},
    KeySpec{"RDMAExtensions", Rule::always_no},
    KeySpec{"InitiatorAlias", Rule::declared_only},
    KeySpec{"InitiatorName", Rule::declared_only},
    KeySpec{"TargetName", Rule::declared_only},
    KeySpec{"SessionType", Rule::declared_only},
    KeySpec{"TargetAlias", Rule::target_only},
    KeySpec{"TargetAddress", Rule::target_only},
    KeySpec{"TargetPortalGroupTag", Rule::target_only},
};

// Our side of each negotiated key.
uint64_t our_number(const KeySpec& k, const TargetLimits& lim) {
  std::string_view n = k.name;
  if (n == "MaxConnections") return 1;  // one connection per session (no MC/S)
  if (n == "MaxBurstLength") return lim.max_burst_length;
  if (n == "FirstBurstLength") return lim.first_burst_length;
  if (n == "DefaultTime2Wait") return 2;
  if (n == "DefaultTime2Retain") return 0;  // ERL 0: nothing is retained after a connection dies
  if (n == "MaxOutstandingR2T") return lim.max_outstanding_r2t;
  if (n == "ErrorRecoveryLevel") return 0;
  return 0;
}
bool our_bool(const KeySpec& k) {
  std::string_view n = k.name;
  if (n == "InitialR2T") return false;  // we accept unsolicited data
  if (n == "ImmediateData") return true;
  return true;  // DataPDUInOrder, DataSequenceInOrder: we only do in-order
}

std::optional<bool> parse_bool(std::string_view v) {
  if (v == "Yes") return true;
  if (v == "No") return false;
  return std::nullopt;
}

}  // namespace

std::optional<uint64_t> parse_number(std::string_view v) {
  if (v.empty() || v.size() > 20) return std::nullopt;
  int base = 10;
  if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
    base = 16;
    v.remove_prefix(2);
  }
  uint64_t out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out, base);
  if (ec != std::errc{} || p != v.data() + v.size()) return std::nullopt;
  return out;
}

bool Negotiator::seen(std::string_view key) const {
  return std::find(seen_.begin(), seen_.end(), key) != seen_.end();
}

Negotiator::Outcome Negotiator::negotiate(const std::vector<KeyValue>& offers) {
  Outcome out;
  auto answer = [&out](std::string_view k, std::string v) { out.response.emplace_back(k, v); };
  for (const auto& [key, value] : offers) {
    if (key.starts_with("CHAP_") || key == "AuthMethod") continue;  // security stage's job
    // Not [&key]: clang before 16 cannot capture structured bindings (the fuzz build uses 14).
    auto it =
        std::find_if(kKeys.begin(), kKeys.end(),
                     [name = std::string_view(key)](const KeySpec& k) { return k.name == name; });
    if (it == kKeys.end()) {
      answer(key, "NotUnderstood");
      continue;
    }
    const KeySpec& k = *it;
    if (seen(key) && k.rule != Rule::declared_only) {
      out.failed = true;
      out.failure = "key " + key + " offered twice";
      return out;
    }
    seen_.push_back(key);
    if (value == "NotUnderstood" || value == "Irrelevant" || value == "Reject") continue;
    if (k.session_only && type_ == SessionType::discovery) {
      answer(key, "Irrelevant");
      continue;
    }
    switch (k.rule) {
      case Rule::digest_list: {
        // The responder picks the first value in the offer that it supports (RFC 7143 §6.2).
        std::optional<bool> pick;
        std::string_view list = value;
        while (!pick && !list.empty()) {
          size_t comma = list.find(',');
          std::string_view item = list.substr(0, comma);
          list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
          if (item == "None")
            pick = false;
          else if (item == "CRC32C" && limits_.allow_digests)
            pick = true;
        }
        if (!pick) {
          answer(key, "Reject");
          out.failed = true;
          out.failure = key + "=" + value + " offers no digest we support";
          return out;
        }
        params_.*k.flag = *pick;
        answer(key, *pick ? "CRC32C" : "None");
        break;
      }
      case Rule::bool_or:
      case Rule::bool_and: {
        auto b = parse_bool(value);
        if (!b) {
          answer(key, "Reject");
          break;
        }
        bool ours = our_bool(k);
        bool result = k.rule == Rule::bool_or ? (*b || ours) : (*b && ours);
        if ((key == "DataPDUInOrder" || key == "DataSequenceInOrder") && !result) result = true;
        params_.*k.flag = result;
        answer(key, result ? "Yes" : "No");
        break;
      }
      case Rule::number_min:
      case Rule::number_max: {
        auto n = parse_number(value);
        if (!n || *n < k.lo || *n > k.hi) {
          answer(key, "Reject");
          break;
        }
        uint64_t ours = our_number(k, limits_);
        uint64_t result = k.rule == Rule::number_min ? std::min(*n, ours) : std::max(*n, ours);
        params_.*k.number = uint32_t(result);
        answer(key, std::to_string(result));
        break;
      }
      case Rule::declarative: {
        auto n = parse_number(value);
        if (!n || *n < k.lo || *n > k.hi) {
          answer(key, "Reject");
          break;
        }
        params_.*k.number = uint32_t(*n);
        // MaxRecvDataSegmentLength is declared by each side for its own receive direction;
        // answering with ours tells the initiator how large its Data-Out PDUs may be.
        params_.target_max_recv_data_segment_length = limits_.max_recv_data_segment_length;
        answer(key, std::to_string(limits_.max_recv_data_segment_length));
        break;
      }
      case Rule::declared_only:
        break;
      case Rule::target_only:
        answer(key, "Reject");
        break;
      case Rule::markers:
        answer(key, "No");
        break;
      case Rule::marker_interval:
        answer(key, "Irrelevant");
        break;
      case Rule::always_no:
        answer(key, "No");
        break;
    }
  }
  // FirstBurstLength must not exceed MaxBurstLength (RFC 7143 §13.14).
  params_.first_burst_length = std::min(params_.first_burst_length, params_.max_burst_length);
  return out;
}

}  // namespace swiftness::iscsi
