// Login as Windows does it (the note §1-§3, RFC 7143 §6 and §11.12-11.13): the key offers,
// CHAP and mutual CHAP, and the checks on every Login Response and negotiated answer.
#include <gtest/gtest.h>

#include <openssl/evp.h>

#include <algorithm>
#include <random>

#include "tests/integration/iscsi/ms_initiator.hpp"

namespace swiftness::testing {

std::array<uint8_t, 16> ms_chap_md5(uint8_t id, const std::string& secret,
                                    const std::vector<uint8_t>& challenge) {
  std::vector<uint8_t> in;
  in.push_back(id);
  in.insert(in.end(), secret.begin(), secret.end());
  in.insert(in.end(), challenge.begin(), challenge.end());
  std::array<uint8_t, 16> out{};
  unsigned len = 0;
  EVP_Digest(in.data(), in.size(), out.data(), &len, EVP_md5(), nullptr);
  return out;
}

MsLoginResult MsInitiator::login(const MsLoginOptions& o) {
  MsLoginResult res;
  bool chap = !o.chap_user.empty();
  KeyList offers =
      o.offers.empty() ? (o.discovery ? ms_discovery_offers() : ms_normal_offers()) : o.offers;
  // First PDU: InitiatorName, SessionType, TargetName, AuthMethod (the note §1 capture order).
  KeyList first{{"InitiatorName", name_}, {"SessionType", o.discovery ? "Discovery" : "Normal"}};
  if (!o.discovery) first.emplace_back("TargetName", o.target);
  first.emplace_back("AuthMethod", chap ? "CHAP,None" : "None");
  // AuthMethod=None: T=1 CSG=0 NSG=1 (byte 1 0x81, the note §1). CHAP: stay in security.
  auto r = login_step(first, chap ? 0x00 : 0x81, res, /*first=*/true);
  if (!r) return res;
  if (!o.discovery) {
    EXPECT_TRUE(res.answers.count("TargetPortalGroupTag"))
        << "first Login Response of a Normal session must carry TargetPortalGroupTag "
           "(RFC 7143 §13.9; the note §3: Windows stalls in the security stage without it)";
  }
  if (chap) {
    EXPECT_EQ(res.answers["AuthMethod"], "CHAP") << "AuthMethod answer (the note §3, event 38)";
    if (!(r = login_step({{"CHAP_A", "5"}}, 0x00, res))) return res;
    EXPECT_EQ(res.answers["CHAP_A"], "5") << "CHAP_A: Windows offers MD5 only (event 14)";
    auto id = parse_number(res.answers["CHAP_I"]);
    auto challenge = decode_hex(res.answers["CHAP_C"]);
    EXPECT_TRUE(id && *id <= 255) << "CHAP_I=" << res.answers["CHAP_I"];
    EXPECT_TRUE(challenge) << "CHAP_C must be 0x-hex (event 15): " << res.answers["CHAP_C"];
    if (!id || !challenge) return res;
    // [INF] the longest challenge Windows takes (event 33) is unknown; 16 bytes is what
    // LIO and open-iscsi use. Anything beyond 1024 is refused by RFC 7143 §12.1.3.
    EXPECT_GE(challenge->size(), 16u) << "CHAP_C length";
    EXPECT_LE(challenge->size(), 1024u) << "CHAP_C length";
    auto resp = ms_chap_md5(uint8_t(*id), o.chap_secret, *challenge);
    KeyList third{{"CHAP_N", o.chap_user}, {"CHAP_R", "0x" + hex(resp.data(), resp.size())}};
    std::vector<uint8_t> our_challenge(16);
    uint8_t our_id = 0;
    if (!o.mutual_user.empty()) {
      std::random_device rd;
      for (auto& b : our_challenge)
        b = uint8_t(rd());
      our_id = uint8_t(rd());
      third.emplace_back("CHAP_I", std::to_string(our_id));
      third.emplace_back("CHAP_C", "0x" + hex(our_challenge.data(), our_challenge.size()));
    }
    res.answers.erase("CHAP_N");
    res.answers.erase("CHAP_R");
    if (!(r = login_step(third, 0x81, res))) return res;
    if (!o.mutual_user.empty()) {
      auto want = ms_chap_md5(our_id, o.mutual_secret, our_challenge);
      EXPECT_EQ(res.answers["CHAP_N"], o.mutual_user) << "mutual CHAP: target's CHAP_N";
      EXPECT_EQ(res.answers["CHAP_R"], "0x" + hex(want.data(), want.size()))
          << "mutual CHAP: wrong target response (the note §3, event 17)";
      if (res.answers["CHAP_R"] != "0x" + hex(want.data(), want.size())) return res;
    }
  }
  EXPECT_EQ(r->flags(), 0x81) << "Login Response byte 1 after the security stage: T=1 CSG=0 "
                                 "NSG=1";
  // Operational stage: all of Windows' offers in one PDU, T=1 CSG=1 NSG=3 (0x87).
  if (!(r = login_step(offers, 0x87, res))) return res;
  EXPECT_EQ(r->flags(), 0x87) << "final Login Response byte 1: T=1 CSG=1 NSG=3";
  tsih_ = core::load_be16(&r->b[14]);
  res.tsih = tsih_;
  EXPECT_NE(tsih_, 0) << "TSIH of the final Login Response (RFC 7143 §11.13.4)";
  check_answers(offers, res.answers, o.discovery);
  // The window must be open after login (the note §3: otherwise Windows sends one command
  // and waits forever).
  int32_t window = int32_t(max_cmd_sn_ - exp_cmd_sn_) + 1;
  EXPECT_GE(window, 2) << "window after login: ExpCmdSN " << exp_cmd_sn_ << " MaxCmdSN "
                       << max_cmd_sn_;
  raw_.set_digests(params_.header_digest, params_.data_digest);
  logged_in_ = true;
  res.ok = tsih_ != 0 && r->flags() == 0x87;
  return res;
}

std::optional<Bhs> MsInitiator::login_step(const KeyList& keys, uint8_t flags, MsLoginResult& res,
                                           bool first) {
  PduBuilder b(Opcode::login_request, true);
  b.flags(flags).isid(isid_).itt(login_itt_);
  b.byte(20, 0).byte(21, 1);  // CID 1 (the note §1)
  b.field32(24, cmd_sn_).field32(28, first ? 0 : exp_stat_sn_);
  for (auto& [k, v] : keys)
    b.key(k, v);
  raw_.send(b);
  auto p = next_pdu(10000);
  EXPECT_TRUE(p) << "no Login Response" << (raw_.saw_eof() ? " (connection closed)" : "");
  if (!p) return std::nullopt;
  const Bhs& r = p->bhs;
  EXPECT_EQ(r.opcode(), Opcode::login_response);
  EXPECT_EQ(r.b[2], 0) << "VersionMax";
  EXPECT_EQ(r.b[3], 0) << "VersionActive";
  EXPECT_EQ(std::memcmp(&r.b[8], isid_.data(), 6), 0) << "ISID echoed in the Login Response";
  EXPECT_EQ(r.itt(), login_itt_) << "Login Response ITT";
  res.status = uint16_t(r.b[36] << 8 | r.b[37]);
  uint32_t stat_sn = r.field32(24);
  if (!first) {
    EXPECT_EQ(stat_sn, exp_stat_sn_) << "Login Response StatSN must follow the previous one";
  }
  exp_stat_sn_ = stat_sn + 1;
  EXPECT_EQ(r.field32(28), cmd_sn_) << "ExpCmdSN during login";
  exp_cmd_sn_ = r.field32(28);
  max_cmd_sn_ = r.field32(32);
  // MaxCmdSN >= ExpCmdSN during login (the note §3, iScsiPrt event 3).
  EXPECT_FALSE(sn_lt(max_cmd_sn_, exp_cmd_sn_))
      << "MaxCmdSN " << max_cmd_sn_ << " < ExpCmdSN " << exp_cmd_sn_;
  last_keys_ = strict_keys(p->data, "Login Response");
  for (auto& [k, v] : last_keys_)
    res.answers[k] = v;
  // Keys Windows did not offer get NotUnderstood/Irrelevant back and Windows re-sends the
  // same Login Request (the note §2). Declarations the target may always make are allowed.
  for (auto& [k, v] : last_keys_) {
    bool offered = std::any_of(keys.begin(), keys.end(), [&](auto& kv) { return kv.first == k; });
    bool declaration = k == "TargetAlias" || k == "TargetPortalGroupTag" ||
                       k == "MaxRecvDataSegmentLength" || k.starts_with("CHAP_");
    EXPECT_TRUE(offered || declaration)
        << "Login Response key " << k << "=" << v << " that Windows did not offer in this PDU";
  }
  if (res.status != 0) return std::nullopt;
  bool final_response = (r.flags() & 0x83) == 0x83;
  if (!final_response) {
    EXPECT_EQ(core::load_be16(&r.b[14]), 0) << "TSIH must be 0 in a non-final Login Response "
                                               "(the note §3, RFC 7143 §11.13.4)";
  }
  EXPECT_FALSE(r.flags() & 0x40) << "C bit in a Login Response to a complete request";
  return r;
}

void MsInitiator::check_answers(const KeyList& offers, const std::map<std::string, std::string>& a,
                                bool discovery) {
  auto num = [&](const std::string& k) -> std::optional<uint64_t> {
    auto it = a.find(k);
    return it == a.end() ? std::nullopt : parse_number(it->second);
  };
  for (auto& [k, v] : offers) {
    auto it = a.find(k);
    if (k == "MaxRecvDataSegmentLength") continue;  // declarative; checked below
    // Windows re-sends the same Login Request on NotUnderstood/Irrelevant (the note §2).
    ASSERT_NE(it, a.end()) << "offered key " << k << " not answered";
    EXPECT_NE(it->second, "NotUnderstood") << k;
    EXPECT_NE(it->second, "Irrelevant") << k << " (Windows offered it; the note §2)";
    EXPECT_NE(it->second, "Reject") << k;
    if (k == "HeaderDigest" || k == "DataDigest") {
      EXPECT_NE(("," + v + ",").find("," + it->second + ","), std::string::npos)
          << k << "=" << it->second << " was not offered (" << v << ")";
    }
  }
  params_.header_digest = a.count("HeaderDigest") && a.at("HeaderDigest") == "CRC32C";
  params_.data_digest = a.count("DataDigest") && a.at("DataDigest") == "CRC32C";
  if (auto n = num("MaxRecvDataSegmentLength")) {
    EXPECT_GE(*n, 512u);
    EXPECT_LE(*n, 16777215u);
    params_.target_mrdsl = uint32_t(*n);
  }
  for (auto& [k, v] : offers)
    if (k == "MaxRecvDataSegmentLength") params_.our_mrdsl = uint32_t(*parse_number(v));
  if (discovery) return;
  auto offered = [&](const std::string& k) {
    for (auto& [ok, ov] : offers)
      if (ok == k) return ov;
    return std::string();
  };
  auto yes = [&](const std::string& k) { return a.count(k) && a.at(k) == "Yes"; };
  // RFC 7143 §13.10/13.11: InitialR2T is OR, ImmediateData is AND.
  params_.initial_r2t = offered("InitialR2T") == "Yes" || yes("InitialR2T");
  EXPECT_EQ(yes("InitialR2T"), params_.initial_r2t) << "InitialR2T result";
  params_.immediate_data = offered("ImmediateData") == "Yes" && yes("ImmediateData");
  EXPECT_EQ(yes("ImmediateData"), params_.immediate_data) << "ImmediateData result";
  EXPECT_TRUE(yes("DataPDUInOrder")) << "DataPDUInOrder=No fails the login (event 61)";
  EXPECT_TRUE(yes("DataSequenceInOrder")) << "DataSequenceInOrder=No fails it (event 62)";
  auto bounded = [&](const std::string& k, uint64_t lo, uint64_t hi) -> uint32_t {
    auto n = num(k);
    EXPECT_TRUE(n && *n >= lo && *n <= hi) << k << " answered " << (a.count(k) ? a.at(k) : "")
                                           << ", must be in [" << lo << ", " << hi << "]";
    return n ? uint32_t(*n) : 0;
  };
  auto offered_num = [&](const std::string& k) { return *parse_number(offered(k)); };
  params_.erl = bounded("ErrorRecoveryLevel", 0, offered_num("ErrorRecoveryLevel"));
  params_.max_burst = bounded("MaxBurstLength", 512, offered_num("MaxBurstLength"));
  params_.first_burst = bounded("FirstBurstLength", 512, offered_num("FirstBurstLength"));
  EXPECT_LE(params_.first_burst, params_.max_burst)
      << "FirstBurstLength > MaxBurstLength (event 4)";
  bounded("MaxConnections", 1, offered_num("MaxConnections"));
  params_.max_outstanding_r2t = bounded("MaxOutstandingR2T", 1, offered_num("MaxOutstandingR2T"));
  bounded("DefaultTime2Wait", offered_num("DefaultTime2Wait"), 3600);
  bounded("DefaultTime2Retain", 0, offered_num("DefaultTime2Retain"));
}

std::optional<uint64_t> MsInitiator::parse_number(const std::string& v) {
  if (v.empty() || v.size() > 18) return std::nullopt;
  try {
    size_t used = 0;
    uint64_t n = std::stoull(v, &used, v.starts_with("0x") ? 16 : 10);
    if (used != v.size()) return std::nullopt;
    return n;
  } catch (...) {
    return std::nullopt;
  }
}

std::optional<std::vector<uint8_t>> MsInitiator::decode_hex(const std::string& v) {
  if (!v.starts_with("0x") && !v.starts_with("0X")) return std::nullopt;
  if (v.size() % 2) return std::nullopt;
  std::vector<uint8_t> out;
  for (size_t i = 2; i + 1 < v.size(); i += 2) {
    auto h = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int a = h(v[i]), b = h(v[i + 1]);
    if (a < 0 || b < 0) return std::nullopt;
    out.push_back(uint8_t(a << 4 | b));
  }
  return out;
}

KeyList MsInitiator::strict_keys(const std::vector<std::byte>& data, const char* what) {
  KeyList out;
  if (data.empty()) return out;
  EXPECT_EQ(uint8_t(data.back()), 0) << what << ": text does not end with NUL";
  std::string cur;
  for (auto b : data) {
    if (uint8_t(b) != 0) {
      cur += char(b);
      continue;
    }
    EXPECT_FALSE(cur.empty()) << what
                              << ": empty key (a NUL pad counted in "
                                 "DataSegmentLength? the note §3)";
    auto eq = cur.find('=');
    EXPECT_NE(eq, std::string::npos) << what << ": key without '=': " << cur;
    EXPECT_NE(eq, 0u) << what << ": empty key name";
    EXPECT_LE(eq, 63u) << what << ": key name over 63 bytes";
    if (eq != std::string::npos) out.emplace_back(cur.substr(0, eq), cur.substr(eq + 1));
    cur.clear();
  }
  return out;
}

}  // namespace swiftness::testing
