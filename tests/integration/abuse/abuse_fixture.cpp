// The shared fixture of the hostile-initiator tests (abuse_fixture.hpp): starting the daemon,
// sessions, CDB and Data-Out helpers, /proc probes and the flood of a client that never reads.
#include "tests/integration/abuse/abuse_fixture.hpp"

#include <dirent.h>
#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <thread>

namespace swiftness::testing::abuse {

using namespace std::chrono_literals;

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  return -1;
}

long open_fds(pid_t pid) {
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (!d) return -1;
  long n = 0;
  while (readdir(d))
    ++n;
  closedir(d);
  return n - 2;
}

void Abuse::start(const std::string& target_extra) {
  daemon_ = std::make_unique<Daemon>(
      dir_.path(), std::string("target:\n  iqn: ") + kIqn + "\n  portals: [\"127.0.0.1:0\"]\n" +
                       target_extra +
                       "state_dir: '@DIR@/state'\nlog_level: info\n"
                       "luns:\n  - {id: 0, name: abuse, backend: file, path: '@DIR@/abuse.img', "
                       "size: 16MiB}\n");
  ASSERT_TRUE(daemon_->start()) << daemon_->log();
  // The daemon is our child, so its PID is known: a scan of /proc/*/cmdline could throw, as
  // libstdc++'s stream iterators raise the ESRCH of a process that exits during the read.
  pid_ = daemon_->pid();
  ASSERT_GT(pid_, 0);
}

std::unique_ptr<RawClient> Abuse::session(uint32_t n) {
  auto c = std::make_unique<RawClient>(daemon_->port());
  EXPECT_TRUE(c->connected());
  EXPECT_TRUE(c->login(kIqn, kInitiator, false, false, isid(n))) << daemon_->log();
  clear_unit_attention(*c);
  return c;
}

void Abuse::clear_unit_attention(RawClient& c) {
  for (uint32_t i = 0; i < 3; ++i) {
    c.send(c.test_unit_ready(0xfff0 + i));
    auto r = c.receive();
    if (!r || r->bhs.b[3] == 0) return;
  }
}

int Abuse::logged_in_socket(uint32_t n) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(daemon_->port());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return ::close(fd), -1;
  iscsi::PduReader reader({false, false, 1u << 20});
  auto exchange = [&](const PduBuilder& b) -> std::optional<Pdu> {
    auto w = b.wire();
    if (::send(fd, w.data(), w.size(), MSG_NOSIGNAL) != ssize_t(w.size())) return std::nullopt;
    uint8_t buf[4096];
    while (true) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 5000) <= 0) return std::nullopt;
      ssize_t got = recv(fd, buf, sizeof buf, 0);
      if (got <= 0) return std::nullopt;
      auto step = reader.feed(std::span<const uint8_t>(buf, size_t(got)));
      if (step.kind == iscsi::PduReader::Step::Kind::pdu) return reader.take();
      if (step.kind == iscsi::PduReader::Step::Kind::error) return std::nullopt;
    }
  };
  auto b = login_pdu(0x81, isid(n));
  b.key("InitiatorName", kInitiator).key("SessionType", "Normal").key("TargetName", kIqn);
  b.key("AuthMethod", "None");
  auto r = exchange(b);
  if (!r || status_of(*r) != 0) return ::close(fd), -1;
  auto c = login_pdu(0x87, isid(n), r->bhs.field32(24) + 1);
  c.key("HeaderDigest", "None").key("DataDigest", "None");
  c.key("MaxRecvDataSegmentLength", "262144");
  r = exchange(c);
  if (!r || status_of(*r) != 0) return ::close(fd), -1;
  return fd;
}

bool Abuse::answers_tur(RawClient& c, uint32_t itt, int timeout_ms) {
  c.send(c.test_unit_ready(itt));
  auto r = c.receive(timeout_ms);
  return r && r->bhs.opcode() == Opcode::scsi_response && r->bhs.itt() == itt && r->bhs.b[3] == 0;
}

bool Abuse::write_blocks(RawClient& c, uint32_t itt, uint32_t lba, uint16_t blocks, uint8_t fill) {
  uint32_t len = blocks * 512u;
  PduBuilder w = c.test_unit_ready(itt);
  w.flags(0xa0).field32(20, len);
  uint8_t cdb[10] = {0x2a,         0, uint8_t(lba >> 24),   uint8_t(lba >> 16), uint8_t(lba >> 8),
                     uint8_t(lba), 0, uint8_t(blocks >> 8), uint8_t(blocks),    0};
  for (int i = 0; i < 10; ++i)
    w.byte(32 + i, cdb[i]);
  c.send(w);
  uint32_t sent = 0;
  while (true) {
    auto r = c.receive();
    if (!r) return false;
    if (r->bhs.opcode() == Opcode::scsi_response) return r->bhs.b[3] == 0 && sent == len;
    if (r->bhs.opcode() != Opcode::r2t) return false;
    uint32_t ttt = r->bhs.field32(20), off = r->bhs.field32(40), n = r->bhs.field32(44);
    PduBuilder d(Opcode::data_out);
    d.flags(0x80).itt(itt).field32(20, ttt).field32(36, off);
    d.data(std::vector<std::byte>(n, std::byte{fill}));
    c.send(d);
    sent += n;
  }
}

std::optional<std::vector<std::byte>> Abuse::read_blocks(RawClient& c, uint32_t itt, uint32_t lba,
                                                         uint16_t blocks) {
  PduBuilder rd = c.test_unit_ready(itt);
  rd.flags(0xc0).field32(20, blocks * 512u);
  uint8_t cdb[10] = {0x28,         0, uint8_t(lba >> 24),   uint8_t(lba >> 16), uint8_t(lba >> 8),
                     uint8_t(lba), 0, uint8_t(blocks >> 8), uint8_t(blocks),    0};
  for (int i = 0; i < 10; ++i)
    rd.byte(32 + i, cdb[i]);
  c.send(rd);
  std::vector<std::byte> out;
  while (true) {
    auto r = c.receive();
    if (!r) return std::nullopt;
    if (r->bhs.opcode() == Opcode::data_in) {
      out.insert(out.end(), r->data.begin(), r->data.end());
      if (r->bhs.flags() & 0x01) return r->bhs.b[3] == 0 ? std::optional(out) : std::nullopt;
      continue;
    }
    if (r->bhs.opcode() == Opcode::scsi_response && r->bhs.b[3] == 0) return out;
    return std::nullopt;
  }
}

uint32_t Abuse::send_solicited(RawClient& c, const Pdu& r2t, uint8_t fill) {
  uint32_t itt = r2t.bhs.itt(), ttt = r2t.bhs.field32(20);
  uint32_t off = r2t.bhs.field32(40), n = r2t.bhs.field32(44);
  for (uint32_t done = 0, sn = 0; done < n; ++sn) {
    uint32_t len = std::min<uint32_t>(n - done, 65536);
    PduBuilder d(Opcode::data_out);
    d.flags(done + len == n ? 0x80 : 0).itt(itt).field32(20, ttt).field32(36, sn);
    d.field32(40, off + done).data(std::vector<std::byte>(len, std::byte{fill}));
    c.send(d);
    done += len;
  }
  return n;
}

PduBuilder Abuse::write16(RawClient& c, uint32_t itt, uint32_t blocks) {
  PduBuilder w = c.test_unit_ready(itt);
  w.flags(0xa0).field32(20, blocks * 512u);
  w.byte(32, 0x8a);  // the rest of a TEST UNIT READY's CDB is zero: LBA 0
  for (int k = 0; k < 4; ++k)
    w.byte(42 + k, uint8_t(blocks >> (24 - 8 * k)));
  return w;
}

bool Abuse::answers_tur_live(RawClient& c, uint32_t itt, int timeout_ms) {
  c.send(c.test_unit_ready(itt));
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (int pdus = 0; pdus < 16 && Clock::now() < deadline; ++pdus) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto r = c.receive(int(std::max<long>(1, left.count())));
    if (!r) return false;
    if (r->bhs.opcode() == Opcode::nop_in && r->bhs.field32(20) != 0xffffffff) {
      c.send(c.nop_out(0xffffffff).field32(20, r->bhs.field32(20)));
      continue;
    }
    return r->bhs.opcode() == Opcode::scsi_response && r->bhs.itt() == itt && r->bhs.b[3] == 0;
  }
  return false;
}

Abuse::Flood Abuse::flood_without_reading(
    int fd, RawClient& other, const std::function<std::vector<uint8_t>(uint64_t)>& next) {
  Flood f;
  f.rss_before = f.rss_peak = rss_kib(pid_);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::vector<uint8_t> pdu;
  size_t off = 0;
  uint64_t count = 0;
  auto t0 = Clock::now(), progress = t0, check = t0;
  auto watch = [&] {
    if (Clock::now() - check < 250ms) return;
    check = Clock::now();
    f.rss_peak = std::max(f.rss_peak, rss_kib(pid_));
    ++f.tur_checks;
    if (!answers_tur_live(other, 0x100 + uint32_t(f.tur_checks))) ++f.tur_failures;
  };
  bool failed = false;
  while (!failed && Clock::now() - t0 < 8s && f.sent < (512u << 20) &&
         Clock::now() - progress < 2s) {
    if (off == pdu.size()) {
      pdu = next(count++);
      off = 0;
    }
    ssize_t n = ::send(fd, pdu.data() + off, pdu.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      f.sent += uint64_t(n);
      off += size_t(n);
      progress = Clock::now();
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      failed = true;  // already dropped (a reset)
    } else {
      std::this_thread::sleep_for(10ms);
    }
    watch();
  }
  // Without reading: a reset from the daemon shows as POLLERR/POLLHUP.
  while (Clock::now() - progress < 15s) {
    pollfd p{fd, 0, 0};
    if (poll(&p, 1, 50) > 0 && (p.revents & (POLLERR | POLLHUP))) {
      f.dropped = true;
      break;
    }
    watch();
  }
  f.drop_wait = Clock::now() - progress;
  f.rss_peak = std::max(f.rss_peak, rss_kib(pid_));
  return f;
}

void Abuse::expect_bounded(const Flood& f) {
  std::printf(
      "flood: %llu MiB sent, RSS %ld -> %ld KiB, %d TURs (%d late), %s after %lld ms\n",
      (unsigned long long)(f.sent >> 20), f.rss_before, f.rss_peak, f.tur_checks, f.tur_failures,
      f.dropped ? "dropped" : "NOT dropped",
      (long long)std::chrono::duration_cast<std::chrono::milliseconds>(f.drop_wait).count());
  constexpr long kSlackKib = 32 * 1024 + kQuarantineKib;
  EXPECT_GT(f.sent, 1u << 20) << "the flood never got going";
  EXPECT_LT(f.rss_peak - f.rss_before, kSlackKib) << "RSS " << f.rss_before << " -> " << f.rss_peak
                                                  << " KiB after " << (f.sent >> 20) << " MiB sent";
  EXPECT_GE(f.tur_checks, 4);
  EXPECT_EQ(f.tur_failures, 0) << "the other session was not served in time";
  EXPECT_TRUE(f.dropped) << "the daemon kept a connection that reads nothing";
  // nop_interval 500 ms + nop_timeout 2 s, on a loaded machine.
  EXPECT_LT(f.drop_wait, 10s);
}

}  // namespace swiftness::testing::abuse
