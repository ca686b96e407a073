// The fixture shared by the hostile-initiator tests (abuse_*_test.cpp, issue 8): a real daemon
// with one 16 MiB file LUN, raw-socket sessions (raw_client.hpp), the CDB and Data-Out helpers
// the tests share, /proc probes of the daemon's memory and descriptors, and the flood of a
// client that never reads. Definitions are in abuse_fixture.cpp.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/iscsi/raw_client.hpp"
#include "tests/integration/support/process.hpp"

namespace swiftness::testing::abuse {

using Clock = std::chrono::steady_clock;

inline constexpr const char* kIqn = "iqn.2026-11.io.swiftness:abuse";
inline constexpr const char* kInitiator = "iqn.2026-11.org.example:abuse";
inline constexpr const char* kChapUser = "alice";
inline constexpr const char* kChapSecret = "alicesecret12";
inline constexpr const char* kMutualUser = "target";
inline constexpr const char* kMutualSecret = "targetsecret1";
// ASan keeps up to 256 MiB of freed memory in quarantine (its default): resident, so memory
// bounds allow for it under the sanitizers; still far from the gigabytes of an unbounded queue.
#ifdef __SANITIZE_ADDRESS__
inline constexpr long kQuarantineKib = 256 * 1024;
#else
inline constexpr long kQuarantineKib = 0;
#endif
// Pings every 500 ms of silence, dropped after 2 s without an answer.
inline constexpr const char* kShortPings = "  nop_interval_ms: 500\n  nop_timeout_ms: 2000\n";

inline std::array<uint8_t, 6> isid(uint32_t n) {
  return {0x80, 0, uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8), uint8_t(n)};
}

inline uint16_t status_of(const Pdu& p) {
  return uint16_t(p.bhs.b[36] << 8 | p.bhs.b[37]);
}

inline PduBuilder login_pdu(uint8_t flags, const std::array<uint8_t, 6>& id,
                            uint32_t exp_stat_sn = 0) {
  PduBuilder b(Opcode::login_request, true);
  b.flags(flags).isid(id).itt(0x1000).field32(24, 1).field32(28, exp_stat_sn);
  return b;
}

inline std::string value_of(const Pdu& p, const std::string& key) {
  return iscsi::testing::value_of(p, key);
}

// Resident memory of a process in KiB (VmRSS), or -1.
long rss_kib(pid_t pid);
// Open descriptors of a process, or -1.
long open_fds(pid_t pid);

class Abuse : public ::testing::Test {
 protected:
  // Starts the daemon with `target_extra` added to its target: section.
  void start(const std::string& target_extra);
  // A logged-in session (AuthMethod=None) whose unit attention is already cleared.
  std::unique_ptr<RawClient> session(uint32_t n);
  // A new I_T nexus starts with a POWER ON unit attention: the first command reports it.
  static void clear_unit_attention(RawClient& c);
  // A socket logged in with AuthMethod=None and MaxRecvDataSegmentLength 256 KiB, for tests
  // that need the descriptor itself (non-blocking floods); -1 on failure.
  int logged_in_socket(uint32_t n);
  static bool answers_tur(RawClient& c, uint32_t itt, int timeout_ms = 5000);
  // WRITE (10) of `blocks` 512-byte blocks at `lba` with all data in Data-Out PDUs after an R2T.
  static bool write_blocks(RawClient& c, uint32_t itt, uint32_t lba, uint16_t blocks, uint8_t fill);
  static std::optional<std::vector<std::byte>> read_blocks(RawClient& c, uint32_t itt, uint32_t lba,
                                                           uint16_t blocks);
  // Answers an R2T with its data in Data-Outs of at most 64 KiB, every byte `fill`; returns the
  // bytes sent.
  static uint32_t send_solicited(RawClient& c, const Pdu& r2t, uint8_t fill);
  // WRITE (16) of `blocks` 512-byte blocks at LBA 0, EDTL as the CDB says, no immediate data.
  static PduBuilder write16(RawClient& c, uint32_t itt, uint32_t blocks);
  // A TEST UNIT READY from a live initiator: a target ping (NOP-In) met on the way is answered
  // first, so a short nop_interval does not drop it. True if GOOD arrives within `timeout_ms`.
  static bool answers_tur_live(RawClient& c, uint32_t itt, int timeout_ms = 2000);

  struct Flood {
    uint64_t sent = 0;     // bytes the client got into its socket
    long rss_before = -1;  // the daemon's VmRSS in KiB
    long rss_peak = -1;
    int tur_checks = 0;           // TEST UNIT READYs of the other session...
    int tur_failures = 0;         // ...that got no GOOD within 2 s
    bool dropped = false;         // the daemon closed the flooding connection
    Clock::duration drop_wait{};  // from the client's last progress to the drop
  };

  // Writes the PDUs `next(0)`, `next(1)`, ... to the non-blocking `fd` and never reads it, for
  // at most 8 s or 512 MiB or until no byte has gone out for 2 s (the daemon stopped reading),
  // then waits up to 15 s for the daemon to drop the connection. Meanwhile, every 250 ms:
  // the daemon's RSS is sampled and `other` must answer a TEST UNIT READY within 2 s.
  Flood flood_without_reading(int fd, RawClient& other,
                              const std::function<std::vector<uint8_t>(uint64_t)>& next);
  // The flood's outcome: memory within 32 MiB (plus ASan's quarantine) of the start, the other
  // session served throughout, the flooding client dropped within 10 s.
  void expect_bounded(const Flood& f);

  TempDir dir_;
  std::unique_ptr<Daemon> daemon_;
  pid_t pid_ = -1;
};

}  // namespace swiftness::testing::abuse
