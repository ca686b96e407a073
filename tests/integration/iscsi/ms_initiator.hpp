// A client that behaves on the wire like the Microsoft iSCSI Initiator (Windows Server 2012-2022,
// Windows 10/11), from the facts in ../shared/notes/windows-initiator.md ("the note" below): its
// ISID and name, its login key offers, CHAP and mutual CHAP, discovery, pipelined SCSI commands
// with immediate data, unsolicited Data-Out and R2T as negotiated, task management and logout.
//
// Every PDU the target sends is framed here, not by the target's own PDU reader, and checked the
// way Windows would choke on it: digests, padding, text framing, StatSN/ExpCmdSN/MaxCmdSN
// progression, F/S/U/O bits, residuals, R2T and Data-In fields. A violation is a test failure
// naming the field, what was expected and what came, and the note or RFC 7143 line.
//
// The implementation: ms_initiator_login.cpp (login, CHAP, key negotiation),
// ms_initiator_commands.cpp (SCSI commands, task management, NOP, SendTargets, logout) and
// ms_initiator_pdu.cpp (framing and checking what the target sends, R2T/Data-In/Response).
#pragma once

#include <array>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

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
std::array<uint8_t, 16> ms_chap_md5(uint8_t id, const std::string& secret,
                                    const std::vector<uint8_t>& challenge);

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

  // Login (the note §1-§3, RFC 7143 §6 and §11.12-11.13).
  MsLoginResult login(const MsLoginOptions& o);

  // SCSI commands: submit() sends the command with its immediate and unsolicited data and
  // returns the ITT; wait() pumps PDUs (answering R2Ts of any task) until that task ends.
  uint32_t submit(const std::vector<uint8_t>& cdb, Dir dir, uint32_t edtl,
                  std::vector<uint8_t> out = {}, uint64_t lun = 0);
  ScsiResult wait(uint32_t itt, int timeout_ms = 30000);
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
                      int timeout_ms = 40000);

  // A NOP-Out ping (Windows with EnableNOPOut=1): the NOP-In must echo the data. Returns the
  // echoed data, or nullopt without an answer.
  std::optional<std::vector<uint8_t>> ping(const std::vector<uint8_t>& data);

  // SendTargets (the note §2): separate NUL-terminated keys, TargetAddress with ",tpgt".
  KeyList send_targets(const std::string& what = "All");

  // Logout with reason 0 (close the session). True if the response says success and the
  // target then closes the connection.
  bool logout(uint8_t reason = 0);

  // Reads PDUs for `ms`, handling what arrives; false if nothing came.
  bool pump(int ms);

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
  static std::optional<uint64_t> parse_number(const std::string& v);
  static std::optional<std::vector<uint8_t>> decode_hex(const std::string& v);
  // Text framing as Windows parses it (the note §3): DataSegmentLength counts the final NUL and
  // not the padding, every key is NUL-terminated, no empty keys.
  static KeyList strict_keys(const std::vector<std::byte>& data, const char* what);

  // One login request and its response; nullopt (and the status in `res`) if the login failed.
  std::optional<Bhs> login_step(const KeyList& keys, uint8_t flags, MsLoginResult& res,
                                bool first = false);
  // Checks every negotiated answer against Windows' offers and records the result.
  void check_answers(const KeyList& offers, const std::map<std::string, std::string>& a,
                     bool discovery);

  void send_data_out(uint32_t itt, Task& t, uint32_t ttt, uint32_t data_sn, uint32_t offset,
                     uint32_t n, bool final_pdu);
  // The next PDU, framed and checked here: digests, padding, sequence numbers.
  std::optional<Pdu> next_pdu(int timeout_ms);
  // StatSN, ExpCmdSN and MaxCmdSN progression (RFC 7143 §4.2.2).
  void check_sequence(const Bhs& b);
  void dispatch(Pdu p);
  std::optional<Pdu> wait_other(uint32_t itt, Opcode op, int timeout_ms = 30000);
  void on_r2t(const Bhs& b);
  void on_data_in(const Pdu& p);
  void on_scsi_response(const Pdu& p);
  void complete(Task& t, uint8_t flags, uint32_t residual, uint32_t moved);

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
