// A client that behaves on the wire like the Microsoft iSCSI Initiator (Windows Server 2012-2022,
// Windows 10/11), from the facts in ../shared/notes/windows-initiator.md ("the note" below): its
// ISID and name, its login key offers, CHAP and mutual CHAP, discovery, pipelined SCSI commands
// with immediate data, unsolicited Data-Out and R2T as negotiated, task management and logout.
//
// Every PDU the target sends is framed here, not by the target's own PDU reader, and checked the
// way Windows would choke on it: digests, padding, text framing, StatSN/ExpCmdSN/MaxCmdSN
// progression, F/S/U/O bits, residuals, R2T and Data-In fields. A violation is a test failure
// naming the field, what was expected and what came, and the note or RFC 7143 line.
#pragma once

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <array>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/crc32c.hpp"
#include "tests/integration/iscsi/raw_client.hpp"

namespace swiftness::testing {

using iscsi::Bhs;

// The note §1: type 01b (IANA enterprise number), EN 0x000137 (311, Microsoft), then a qualifier
// Windows increments per session.
inline std::array<uint8_t, 6> ms_isid(uint16_t qualifier) {
  return {0x40, 0x00, 0x01, 0x37, uint8_t(qualifier >> 8), uint8_t(qualifier)};
}
inline std::string ms_initiator_name(const std::string& host) {
  return "iqn.1991-05.com.microsoft:" + host;
}

using KeyList = std::vector<std::pair<std::string, std::string>>;

// The operational keys Windows offers in a Normal session (the note §3 table). The order of keys
// in Windows' PDU is unknown (the note §6); this is RFC 7143 §13 order.
inline KeyList ms_normal_offers(const std::string& digests = "None,CRC32C") {
  return {{"HeaderDigest", digests},     {"DataDigest", digests},
          {"ErrorRecoveryLevel", "2"},   {"InitialR2T", "No"},
          {"ImmediateData", "Yes"},      {"MaxBurstLength", "262144"},
          {"FirstBurstLength", "65536"}, {"MaxConnections", "32"},
          {"MaxOutstandingR2T", "16"},   {"MaxRecvDataSegmentLength", "65536"},
          {"DataPDUInOrder", "Yes"},     {"DataSequenceInOrder", "Yes"},
          {"DefaultTime2Wait", "0"},     {"DefaultTime2Retain", "60"}};
}
// The measured discovery offer (the note §2).
inline KeyList ms_discovery_offers() {
  return {{"HeaderDigest", "None,CRC32C"},
          {"DataDigest", "None,CRC32C"},
          {"MaxRecvDataSegmentLength", "65536"},
          {"DefaultTime2Wait", "0"},
          {"DefaultTime2Retain", "60"}};
}

struct MsLoginOptions {
  bool discovery = false;
  std::string target;         // TargetName of a Normal session
  KeyList offers;             // empty: ms_normal_offers() / ms_discovery_offers()
  std::string chap_user;      // empty: AuthMethod=None
  std::string chap_secret;    // 12-16 bytes for Windows (the note §3, events 35/36)
  std::string mutual_user;    // non-empty: mutual CHAP, the target must answer as this name...
  std::string mutual_secret;  // ...with this secret
};

struct MsLoginResult {
  bool ok = false;
  uint16_t status = 0;  // Status-Class << 8 | Status-Detail of the last Login Response
  std::map<std::string, std::string> answers;  // every key the target sent, last value wins
  uint16_t tsih = 0;
};

// The negotiated values the client works with (RFC 7143 §13).
struct MsParams {
  bool header_digest = false, data_digest = false;
  bool initial_r2t = true, immediate_data = false;
  uint32_t first_burst = 65536, max_burst = 262144;
  uint32_t target_mrdsl = 8192;  // what the target may receive in one PDU (its declaration)
  uint32_t our_mrdsl = 65536;    // what we declared
  uint32_t max_outstanding_r2t = 1;
  uint32_t erl = 0;
};

enum class Dir { none, read, write };

struct ScsiResult {
  bool completed = false;
  uint8_t status = 0xff;
  uint8_t sense_key = 0, asc = 0, ascq = 0;
  std::vector<uint8_t> sense;
  std::vector<uint8_t> data;  // Data-In payload, in offset order
  bool underflow = false, overflow = false;
  uint32_t residual = 0;
  uint32_t data_in_pdus = 0, r2ts = 0, data_out_pdus = 0, unsolicited_pdus = 0;
  uint32_t immediate_bytes = 0;
  bool good() const { return completed && status == 0; }
};

inline std::string hex(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}

// CHAP response MD5(id || secret || challenge) (RFC 1994), computed here with OpenSSL rather
// than with the target's own code.
inline std::array<uint8_t, 16> ms_chap_md5(uint8_t id, const std::string& secret,
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

class MsInitiator {
 public:
  MsInitiator(uint16_t port, std::string name, std::array<uint8_t, 6> isid)
      : raw_(port), name_(std::move(name)), isid_(isid) {}

  bool connected() const { return raw_.connected(); }
  RawClient& raw() { return raw_; }
  const MsParams& params() const { return params_; }
  uint32_t cmd_sn() const { return cmd_sn_; }
  uint32_t exp_cmd_sn() const { return exp_cmd_sn_; }
  uint32_t max_cmd_sn() const { return max_cmd_sn_; }
  uint32_t exp_stat_sn() const { return exp_stat_sn_; }
  uint16_t tsih() const { return tsih_; }
  uint32_t next_itt() const { return itt_; }
  void set_next_itt(uint32_t itt) { itt_ = itt; }
  void set_cmd_sn(uint32_t sn) { cmd_sn_ = sn; }
  // PDUs rejected by the target; a Windows initiator logs each (iScsiPrt events) and recovers.
  const std::vector<Bhs>& rejects() const { return rejects_; }
  uint32_t pings_answered() const { return pings_answered_; }

  // ---------------------------------------------------------------------------------------
  // Login (the note §1-§3, RFC 7143 §6 and §11.12-11.13)

  MsLoginResult login(const MsLoginOptions& o) {
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

  // ---------------------------------------------------------------------------------------
  // SCSI commands: submit() sends the command with its immediate and unsolicited data and
  // returns the ITT; wait() pumps PDUs (answering R2Ts of any task) until that task ends.

  uint32_t submit(const std::vector<uint8_t>& cdb, Dir dir, uint32_t edtl,
                  std::vector<uint8_t> out = {}, uint64_t lun = 0) {
    // Windows stays inside the window: wait for MaxCmdSN to open (bounded).
    for (int i = 0; i < 100 && sn_lt(max_cmd_sn_, cmd_sn_); ++i)
      pump(100);
    EXPECT_FALSE(sn_lt(max_cmd_sn_, cmd_sn_)) << "CmdSN window stayed closed";
    uint32_t itt = itt_++;
    Task& t = tasks_[itt];
    t.dir = dir;
    t.edtl = edtl;
    t.lun = lun;
    t.out = std::move(out);
    t.cmd_sn = cmd_sn_;
    if (dir == Dir::write) {
      EXPECT_EQ(t.out.size(), edtl) << "test bug: write buffer != EDTL";
    }
    PduBuilder b(Opcode::scsi_command);
    // F, R/W, ATTR simple (1).
    b.flags(uint8_t(0x80 | (dir == Dir::read ? 0x40 : 0) | (dir == Dir::write ? 0x20 : 0) | 1));
    b.pdu.bhs.set_lun(lun_field(lun));
    b.itt(itt).field32(20, edtl).field32(24, cmd_sn_++).field32(28, exp_stat_sn_);
    std::memcpy(&b.pdu.bhs.b[32], cdb.data(), std::min<size_t>(16, cdb.size()));
    uint32_t imm = 0;
    if (dir == Dir::write && params_.immediate_data)
      imm = std::min({edtl, params_.first_burst, params_.target_mrdsl});
    if (imm) b.data(bytes(t.out, 0, imm));
    raw_.send(b);
    t.res.immediate_bytes = imm;
    t.sent = imm;
    t.next_r2t_offset = imm;
    if (dir == Dir::write && !params_.initial_r2t) {
      // Unsolicited Data-Out up to FirstBurstLength (RFC 7143 §13.12), TTT ffffffff, DataSN
      // from 0, F on the last PDU of the sequence.
      uint32_t end = std::min(edtl, params_.first_burst);
      uint32_t sn = 0;
      while (t.sent < end) {
        uint32_t n = std::min(params_.target_mrdsl, end - t.sent);
        send_data_out(itt, t, 0xffffffff, sn++, t.sent, n, t.sent + n == end);
        ++t.res.unsolicited_pdus;
        t.sent += n;
      }
      t.next_r2t_offset = end;
    }
    return itt;
  }

  ScsiResult wait(uint32_t itt, int timeout_ms = 30000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (tasks_.count(itt) && !tasks_[itt].res.completed &&
           std::chrono::steady_clock::now() < deadline) {
      if (!pump(200) && raw_.saw_eof()) break;
    }
    auto it = tasks_.find(itt);
    if (it == tasks_.end()) return {};
    ScsiResult r = std::move(it->second.res);
    EXPECT_TRUE(r.completed) << "no status for ITT " << itt << " within " << timeout_ms << " ms";
    tasks_.erase(it);
    return r;
  }
  // Forgets a task whose answer must never come (aborted by a TMF or a lost connection).
  bool pending(uint32_t itt) const {
    auto it = tasks_.find(itt);
    return it != tasks_.end() && !it->second.res.completed;
  }
  void forget(uint32_t itt) { tasks_.erase(itt); }

  ScsiResult command(const std::vector<uint8_t>& cdb, Dir dir, uint32_t edtl,
                     std::vector<uint8_t> out = {}, uint64_t lun = 0) {
    return wait(submit(cdb, dir, edtl, std::move(out), lun));
  }

  // Task management (RFC 7143 §11.5), sent immediate like Windows' LUN RESET. Returns the
  // Response byte, or -1 without an answer.
  int task_management(uint8_t function, uint64_t lun, uint32_t rtt = 0xffffffff,
                      int timeout_ms = 40000) {
    uint32_t itt = itt_++;
    PduBuilder b(Opcode::task_mgmt_request, true);
    b.flags(uint8_t(0x80 | function)).itt(itt).field32(20, rtt);
    b.pdu.bhs.set_lun(lun_field(lun));
    b.field32(24, cmd_sn_).field32(28, exp_stat_sn_).field32(32, cmd_sn_).field32(36, 0);
    raw_.send(b);
    auto r = wait_other(itt, Opcode::task_mgmt_response, timeout_ms);
    if (!r) return -1;
    EXPECT_EQ(r->bhs.flags(), 0x80) << "TMF Response byte 1";
    EXPECT_EQ(r->bhs.data_segment_length(), 0u) << "TMF Response carries no data";
    return r->bhs.b[2];
  }

  // A NOP-Out ping (Windows with EnableNOPOut=1): the NOP-In must echo the data. Returns the
  // echoed data, or nullopt without an answer.
  std::optional<std::vector<uint8_t>> ping(const std::vector<uint8_t>& data) {
    uint32_t itt = itt_++;
    PduBuilder b(Opcode::nop_out, true);
    b.flags(0x80).itt(itt).field32(20, 0xffffffff).field32(24, cmd_sn_).field32(28, exp_stat_sn_);
    if (!data.empty()) b.data(bytes(data, 0, data.size()));
    raw_.send(b);
    auto r = wait_other(itt, Opcode::nop_in);
    if (!r) return std::nullopt;
    EXPECT_EQ(r->bhs.flags(), 0x80) << "NOP-In byte 1";
    EXPECT_EQ(r->bhs.field32(20), 0xffffffffu) << "NOP-In TTT of an answer";
    std::vector<uint8_t> out(r->data.size());
    if (!out.empty()) std::memcpy(out.data(), r->data.data(), out.size());
    return out;
  }

  // SendTargets (the note §2): separate NUL-terminated keys, TargetAddress with ",tpgt".
  KeyList send_targets(const std::string& what = "All") {
    uint32_t itt = itt_++;
    PduBuilder b(Opcode::text_request);
    b.flags(0x80).itt(itt).field32(20, 0xffffffff).field32(24, cmd_sn_++);
    b.field32(28, exp_stat_sn_).key("SendTargets", what);
    raw_.send(b);
    auto r = wait_other(itt, Opcode::text_response);
    if (!r) return {};
    EXPECT_EQ(r->bhs.flags(), 0x80) << "Text Response byte 1: F=1 C=0";
    EXPECT_EQ(r->bhs.field32(20), 0xffffffffu) << "Text Response TTT when final";
    return strict_keys(r->data, "Text Response");
  }

  // Logout with reason 0 (close the session). True if the response says success and the
  // target then closes the connection.
  bool logout(uint8_t reason = 0) {
    uint32_t itt = itt_++;
    PduBuilder b(Opcode::logout_request, true);
    b.flags(uint8_t(0x80 | reason)).itt(itt).field32(24, cmd_sn_).field32(28, exp_stat_sn_);
    b.byte(20, 0).byte(21, 1);  // CID 1
    raw_.send(b);
    auto r = wait_other(itt, Opcode::logout_response);
    if (!r) return false;
    EXPECT_EQ(r->bhs.flags(), 0x80) << "Logout Response byte 1";
    EXPECT_EQ(r->bhs.b[2], 0) << "Logout Response: connection or session closed successfully";
    EXPECT_EQ(r->bhs.data_segment_length(), 0u);
    // The target closes the connection after the Logout Response (RFC 7143 §11.15).
    uint8_t byte;
    bool more = raw_.read_exact(&byte, 1, 5000);
    EXPECT_FALSE(more) << "bytes after the Logout Response";
    EXPECT_TRUE(raw_.saw_eof()) << "the target did not close the connection after logout";
    return r->bhs.b[2] == 0 && !more && raw_.saw_eof();
  }

  // Reads PDUs for `ms`, handling what arrives; false if nothing came.
  bool pump(int ms) {
    auto p = next_pdu(ms);
    if (!p) return false;
    dispatch(std::move(*p));
    return true;
  }

  // Big-endian helpers for CDB building in tests.
  static void put16(std::vector<uint8_t>& v, size_t off, uint32_t x) {
    v[off] = uint8_t(x >> 8);
    v[off + 1] = uint8_t(x);
  }
  static void put32(std::vector<uint8_t>& v, size_t off, uint32_t x) {
    for (int i = 0; i < 4; ++i)
      v[off + size_t(i)] = uint8_t(x >> (24 - 8 * i));
  }
  static void put64(std::vector<uint8_t>& v, size_t off, uint64_t x) {
    for (int i = 0; i < 8; ++i)
      v[off + size_t(i)] = uint8_t(x >> (56 - 8 * i));
  }

 private:
  struct Task {
    Dir dir = Dir::none;
    uint32_t edtl = 0;
    uint64_t lun = 0;
    uint32_t cmd_sn = 0;
    std::vector<uint8_t> out;
    uint32_t sent = 0;
    uint32_t next_r2t_offset = 0;
    uint32_t next_r2t_sn = 0;
    uint32_t next_data_sn = 0;  // Data-In
    uint32_t seq_bytes = 0;     // Data-In bytes since the last F bit
    ScsiResult res;
  };

  static bool sn_lt(uint32_t a, uint32_t b) { return a != b && int32_t(a - b) < 0; }
  static uint64_t lun_field(uint64_t lun) {
    // SAM-5 4.7: peripheral addressing below 256, flat space addressing above.
    return lun < 256 ? lun << 48 : (0x4000ull | lun) << 48;
  }
  static std::vector<std::byte> bytes(const std::vector<uint8_t>& v, size_t off, size_t n) {
    std::vector<std::byte> out(n);
    std::memcpy(out.data(), v.data() + off, n);
    return out;
  }
  static std::optional<uint64_t> parse_number(const std::string& v) {
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
  static std::optional<std::vector<uint8_t>> decode_hex(const std::string& v) {
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

  // Text framing as Windows parses it (the note §3): DataSegmentLength counts the final NUL and
  // not the padding, every key is NUL-terminated, no empty keys.
  static KeyList strict_keys(const std::vector<std::byte>& data, const char* what) {
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

  // One login request and its response; nullopt (and the status in `res`) if the login failed.
  std::optional<Bhs> login_step(const KeyList& keys, uint8_t flags, MsLoginResult& res,
                                bool first = false) {
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

  // Checks every negotiated answer against Windows' offers and records the result.
  void check_answers(const KeyList& offers, const std::map<std::string, std::string>& a,
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

  void send_data_out(uint32_t itt, Task& t, uint32_t ttt, uint32_t data_sn, uint32_t offset,
                     uint32_t n, bool final_pdu) {
    PduBuilder d(Opcode::data_out);
    d.flags(final_pdu ? 0x80 : 0).itt(itt).field32(20, ttt).field32(28, exp_stat_sn_);
    d.pdu.bhs.set_lun(lun_field(t.lun));
    d.field32(36, data_sn).field32(40, offset);
    d.data(bytes(t.out, offset, n));
    raw_.send(d);
    ++t.res.data_out_pdus;
  }

  // The next PDU, framed and checked here: digests, padding, sequence numbers.
  std::optional<Pdu> next_pdu(int timeout_ms) {
    Pdu p;
    if (!raw_.read_exact(p.bhs.b.data(), iscsi::kBhsLength, timeout_ms)) return std::nullopt;
    const bool login_phase = !logged_in_;
    const bool hd = params_.header_digest && !login_phase;
    const bool dd = params_.data_digest && !login_phase;
    p.ahs.resize(size_t(p.bhs.total_ahs_length()) * 4);
    if (!p.ahs.empty() && !raw_.read_exact(p.ahs.data(), p.ahs.size())) return std::nullopt;
    if (hd) {
      uint8_t d[4];
      if (!raw_.read_exact(d, 4)) return std::nullopt;
      std::vector<uint8_t> h(p.bhs.b.begin(), p.bhs.b.end());
      h.insert(h.end(), p.ahs.begin(), p.ahs.end());
      EXPECT_EQ(iscsi::load_digest(d), core::crc32c(std::span<const uint8_t>(h)))
          << "header digest of opcode 0x" << std::hex << int(p.bhs.opcode());
    }
    uint32_t dsl = p.bhs.data_segment_length();
    if (dsl) {
      std::vector<uint8_t> seg(dsl + iscsi::pad4(dsl));
      if (!raw_.read_exact(seg.data(), seg.size(), timeout_ms)) return std::nullopt;
      for (size_t i = dsl; i < seg.size(); ++i)
        EXPECT_EQ(seg[i], 0) << "padding byte not zero";
      if (dd) {
        uint8_t d[4];
        if (!raw_.read_exact(d, 4)) return std::nullopt;
        EXPECT_EQ(iscsi::load_digest(d), core::crc32c(std::span<const uint8_t>(seg)))
            << "data digest of opcode 0x" << std::hex << int(p.bhs.opcode());
      }
      p.data.resize(dsl);
      std::memcpy(p.data.data(), seg.data(), dsl);
      // Nothing we receive may exceed what we declared (RFC 7143 §13.12).
      if (!login_phase) {
        EXPECT_LE(dsl, params_.our_mrdsl) << "DataSegmentLength over our MaxRecvDataSegmentLength";
      }
    }
    if (!login_phase) check_sequence(p.bhs);
    return p;
  }

  // StatSN, ExpCmdSN and MaxCmdSN progression (RFC 7143 §4.2.2).
  void check_sequence(const Bhs& b) {
    Opcode op = b.opcode();
    bool status = op == Opcode::scsi_response || op == Opcode::task_mgmt_response ||
                  op == Opcode::text_response || op == Opcode::logout_response ||
                  op == Opcode::reject || (op == Opcode::data_in && (b.flags() & 0x01)) ||
                  (op == Opcode::nop_in && b.itt() != 0xffffffff);
    uint32_t stat_sn = b.field32(24);
    if (status) {
      EXPECT_EQ(stat_sn, exp_stat_sn_) << "StatSN of opcode 0x" << std::hex << int(op);
      exp_stat_sn_ = stat_sn + 1;
    } else if (op == Opcode::r2t || op == Opcode::nop_in || op == Opcode::async_message) {
      EXPECT_EQ(stat_sn, exp_stat_sn_)
          << "StatSN (next, not advanced) of opcode 0x" << std::hex << int(op);
    }
    uint32_t e = b.field32(28), m = b.field32(32);
    EXPECT_FALSE(sn_lt(e, exp_cmd_sn_)) << "ExpCmdSN went back from " << exp_cmd_sn_ << " to " << e;
    EXPECT_FALSE(sn_lt(cmd_sn_, e)) << "ExpCmdSN " << e << " beyond the next CmdSN " << cmd_sn_;
    EXPECT_FALSE(sn_lt(m + 1, e)) << "MaxCmdSN " << m << " < ExpCmdSN - 1 (" << e << ")";
    exp_cmd_sn_ = e;
    max_cmd_sn_ = m;
  }

  void dispatch(Pdu p) {
    const Bhs& b = p.bhs;
    switch (b.opcode()) {
      case Opcode::data_in:
        return on_data_in(p);
      case Opcode::scsi_response:
        return on_scsi_response(p);
      case Opcode::r2t:
        return on_r2t(b);
      case Opcode::nop_in:
        if (b.itt() == 0xffffffff) {
          // A target ping: Windows answers (the note §4).
          PduBuilder n(Opcode::nop_out, true);
          n.flags(0x80).itt(0xffffffff).field32(20, b.field32(20)).field32(24, cmd_sn_);
          n.field32(28, exp_stat_sn_);
          n.pdu.bhs.set_lun(b.lun());
          raw_.send(n);
          ++pings_answered_;
          return;
        }
        others_.emplace(b.itt(), std::move(p));
        return;
      case Opcode::reject:
        rejects_.push_back(b);
        ADD_FAILURE() << "Reject reason 0x" << std::hex << int(b.b[2]) << " for opcode 0x"
                      << (p.data.empty() ? 0 : int(uint8_t(p.data[0]) & 0x3f));
        return;
      case Opcode::async_message:
        async_.push_back(b);
        return;
      default:
        others_.emplace(b.itt(), std::move(p));
        return;
    }
  }

  std::optional<Pdu> wait_other(uint32_t itt, Opcode op, int timeout_ms = 30000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!others_.count(itt) && std::chrono::steady_clock::now() < deadline)
      if (!pump(200) && raw_.saw_eof()) break;
    auto it = others_.find(itt);
    EXPECT_NE(it, others_.end()) << "no answer to ITT " << itt;
    if (it == others_.end()) return std::nullopt;
    Pdu p = std::move(it->second);
    others_.erase(it);
    EXPECT_EQ(p.bhs.opcode(), op);
    return p;
  }

  void on_r2t(const Bhs& b) {
    EXPECT_EQ(b.flags(), 0x80) << "R2T byte 1 must be 0x80 (the note §4, event 23)";
    auto it = tasks_.find(b.itt());
    ASSERT_NE(it, tasks_.end()) << "R2T for unknown ITT " << b.itt();
    Task& t = it->second;
    ASSERT_EQ(t.dir, Dir::write) << "R2T for a non-write command";
    EXPECT_EQ(b.lun(), lun_field(t.lun)) << "R2T LUN";
    uint32_t ttt = b.field32(20), r2t_sn = b.field32(36), offset = b.field32(40),
             len = b.field32(44);
    EXPECT_NE(ttt, 0xffffffffu) << "R2T TTT";
    EXPECT_EQ(r2t_sn, t.next_r2t_sn++) << "R2TSN";
    EXPECT_EQ(offset, t.next_r2t_offset) << "R2T offset (DataSequenceInOrder=Yes)";
    EXPECT_GT(len, 0u) << "R2T desired length";
    EXPECT_LE(len, params_.max_burst) << "R2T desired length over MaxBurstLength";
    EXPECT_LE(uint64_t(offset) + len, t.edtl) << "R2T beyond EDTL";
    ++t.res.r2ts;
    if (uint64_t(offset) + len > t.edtl) return;
    t.next_r2t_offset = offset + len;
    uint32_t sn = 0;
    for (uint32_t done = 0; done < len;) {
      uint32_t n = std::min(params_.target_mrdsl, len - done);
      send_data_out(b.itt(), t, ttt, sn++, offset + done, n, done + n == len);
      done += n;
    }
    t.sent += len;
  }

  void on_data_in(const Pdu& p) {
    const Bhs& b = p.bhs;
    auto it = tasks_.find(b.itt());
    ASSERT_NE(it, tasks_.end()) << "Data-In for unknown ITT " << b.itt();
    Task& t = it->second;
    EXPECT_EQ(t.dir, Dir::read) << "Data-In for a non-read command";
    uint8_t f = b.flags();
    bool fin = f & 0x80, s = f & 0x01;
    EXPECT_FALSE(f & 0x40) << "Data-In A bit at ErrorRecoveryLevel " << params_.erl;
    EXPECT_EQ(f & 0x38, 0) << "Data-In reserved bits";
    if (s) {
      EXPECT_TRUE(fin) << "Data-In S without F";
    }
    if (!s) {
      EXPECT_EQ(f & 0x06, 0) << "Data-In O/U without S";
    }
    EXPECT_EQ(b.field32(20), 0xffffffffu) << "Data-In TTT";
    EXPECT_EQ(b.field32(36), t.next_data_sn++) << "DataSN";
    uint32_t off = b.field32(40), n = b.data_segment_length();
    EXPECT_EQ(off, uint32_t(t.res.data.size())) << "Data-In buffer offset";
    EXPECT_LE(uint64_t(off) + n, t.edtl) << "Data-In beyond EDTL";
    t.res.data.insert(t.res.data.end(), reinterpret_cast<const uint8_t*>(p.data.data()),
                      reinterpret_cast<const uint8_t*>(p.data.data()) + n);
    ++t.res.data_in_pdus;
    t.seq_bytes += n;
    // A Data-In sequence must not exceed MaxBurstLength (tgt PR #75 in the note's appendix).
    EXPECT_LE(t.seq_bytes, params_.max_burst) << "Data-In sequence over MaxBurstLength";
    if (fin) t.seq_bytes = 0;
    if (s) {
      t.res.status = b.b[3];
      EXPECT_EQ(b.b[3], 0) << "status in Data-In must be GOOD (sense needs a SCSI Response)";
      complete(t, f, b.field32(44), uint32_t(t.res.data.size()));
    }
  }

  void on_scsi_response(const Pdu& p) {
    const Bhs& b = p.bhs;
    auto it = tasks_.find(b.itt());
    ASSERT_NE(it, tasks_.end()) << "SCSI Response for unknown ITT " << b.itt();
    Task& t = it->second;
    uint8_t f = b.flags();
    EXPECT_TRUE(f & 0x80) << "SCSI Response F bit";
    EXPECT_EQ(f & 0x78, 0) << "SCSI Response reserved/bidirectional residual bits";
    EXPECT_EQ(b.b[2], 0) << "SCSI Response: Response must be 'completed at target'";
    t.res.status = b.b[3];
    uint32_t dsl = b.data_segment_length();
    if (t.res.status == 0) {
      EXPECT_EQ(dsl, 0u) << "a GOOD SCSI Response must carry no data (the note §4, event 60)";
    } else if (dsl) {
      EXPECT_GE(dsl, 2u);
      uint32_t sl = dsl >= 2 ? uint32_t(uint8_t(p.data[0])) << 8 | uint8_t(p.data[1]) : 0;
      EXPECT_LE(sl + 2, dsl) << "SenseLength beyond the data segment";
      for (uint32_t i = 0; i < sl && i + 2 < dsl; ++i)
        t.res.sense.push_back(uint8_t(p.data[2 + i]));
      auto& s = t.res.sense;
      if (s.size() >= 14 && (s[0] & 0x7f) >= 0x70 && (s[0] & 0x7f) <= 0x71) {
        t.res.sense_key = s[2] & 0x0f;
        t.res.asc = s[12];
        t.res.ascq = s[13];
      } else if (s.size() >= 4 && (s[0] & 0x7f) >= 0x72) {
        t.res.sense_key = s[1] & 0x0f;
        t.res.asc = s[2];
        t.res.ascq = s[3];
      }
    }
    // ExpDataSN: the number of Data-In (read) or R2T (write) PDUs (RFC 7143 §11.4.8).
    uint32_t want = t.dir == Dir::read ? t.res.data_in_pdus : t.dir == Dir::write ? t.res.r2ts : 0;
    EXPECT_EQ(b.field32(36), want) << "ExpDataSN";
    uint32_t moved = t.dir == Dir::read ? uint32_t(t.res.data.size()) : t.sent;
    complete(t, f, b.field32(44), moved);
  }

  void complete(Task& t, uint8_t flags, uint32_t residual, uint32_t moved) {
    t.res.completed = true;
    t.res.overflow = flags & 0x04;
    t.res.underflow = flags & 0x02;
    EXPECT_FALSE(t.res.overflow && t.res.underflow) << "both O and U";
    t.res.residual = (t.res.overflow || t.res.underflow) ? residual : 0;
    if (t.res.underflow) {
      EXPECT_EQ(residual, t.edtl - moved) << "underflow residual count";
    }
    if (!t.res.overflow && !t.res.underflow && t.res.status == 0) {
      // The note §4: GOOD with fewer bytes than EDTL and no U makes Windows drop the connection.
      EXPECT_EQ(moved, t.edtl) << "GOOD without residual but fewer bytes than EDTL";
    }
  }

  RawClient raw_;
  std::string name_;
  std::array<uint8_t, 6> isid_;
  uint32_t login_itt_ = 1;  // the note §1: ITT 1, CmdSN 1, ExpStatSN 0
  uint32_t itt_ = 2;
  uint32_t cmd_sn_ = 1;
  uint32_t exp_stat_sn_ = 0;
  uint32_t exp_cmd_sn_ = 1;
  uint32_t max_cmd_sn_ = 1;
  uint16_t tsih_ = 0;
  bool logged_in_ = false;
  MsParams params_;
  std::map<uint32_t, Task> tasks_;
  std::multimap<uint32_t, Pdu> others_;
  std::vector<Bhs> rejects_;
  std::vector<Bhs> async_;
  uint32_t pings_answered_ = 0;
  KeyList last_keys_;
};

// SCSI sense shorthand for assertions: "key/asc/ascq".
inline std::string sense_of(const ScsiResult& r) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "status %02x sense %x/%02x/%02x", r.status, r.sense_key, r.asc,
                r.ascq);
  return buf;
}

}  // namespace swiftness::testing
