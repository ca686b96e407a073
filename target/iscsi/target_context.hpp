// What every connection of one target shares: its configuration, the SCSI device server, and the
// registry of live sessions (for reinstatement, TSIH allocation and stable I_T nexus ids).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/log.hpp"
#include "target/iscsi/login.hpp"
#include "target/iscsi/task_sets.hpp"
#include "target/scsi/device_server.hpp"

namespace swiftness::iscsi {

class Connection;

struct Portal {
  std::string address;  // "127.0.0.1", "0.0.0.0", "::1"
  uint16_t port = 3260;
};

struct Timeouts {
  std::chrono::milliseconds login{15000};        // the whole login phase
  std::chrono::milliseconds nop_interval{5000};  // idle time before the target pings
  std::chrono::milliseconds nop_timeout{15000};  // no answer to a ping: the connection is dead
  std::chrono::milliseconds logout{5000};        // waiting for in-flight tasks at logout
  // A command still at the device after this long is logged (once) and counted. 30 s: the
  // Linux initiator's default SCSI command timeout (Windows waits 60 s).
  std::chrono::milliseconds slow_command{30000};
};

struct TargetConfig {
  LoginConfig login;
  std::vector<Portal> portals;
  Timeouts timeouts;
  uint32_t max_connections = 1024;       // beyond this, new TCP connections are closed at once
  uint32_t max_tasks_per_session = 128;  // the CmdSN window when idle
};

// Live normal sessions by initiator port (name + ISID), guarded by one mutex: it is touched only
// at login and logout, never on the data path.
class SessionRegistry {
 public:
  // Registers `conn` for (initiator, isid) and returns the connection it replaces, if any
  // (session reinstatement, RFC 7143 §6.3.5).
  std::shared_ptr<Connection> register_session(const std::string& initiator,
                                               const std::array<uint8_t, 6>& isid, uint16_t tsih,
                                               const std::shared_ptr<Connection>& conn);
  // Removes the entry if it is still `conn`; true if it was (the nexus really ends).
  bool unregister(const std::string& initiator, const std::array<uint8_t, 6>& isid,
                  const Connection* conn);
  bool tsih_valid(const std::string& initiator, const std::array<uint8_t, 6>& isid, uint16_t tsih);
  uint16_t new_tsih();
  // The same initiator port always gets the same nexus id, so reservations and unit attentions
  // survive a reconnect (SPC-4: they belong to the I_T nexus, not to one TCP connection).
  uint64_t nexus_id(const std::string& initiator_port);
  size_t session_count();
  std::vector<std::shared_ptr<Connection>> all();

 private:
  struct Entry {
    std::weak_ptr<Connection> conn;
    uint16_t tsih = 0;
  };
  std::mutex mu_;
  std::map<std::string, Entry> sessions_;  // key: initiator name + "," + hex ISID
  std::map<std::string, uint64_t> nexus_ids_;
  uint16_t next_tsih_ = 1;
  uint64_t next_nexus_ = 1;
};

// What a SIGHUP reload may change for new logins.
struct LoginSecurity {
  std::optional<ChapCredentials> chap;
  std::optional<ChapCredentials> mutual_chap;
  bool discovery_chap = false;
  std::vector<std::string> allowed_initiators;
  std::string target_alias;
};

struct TargetContext {
  TargetConfig config;
  // A connection copies the login configuration once, at its first PDU, under this lock, so a
  // reload changes CHAP and the allowed initiators for new logins only.
  LoginConfig login_config() const {
    std::lock_guard lock(login_mu);
    return config.login;
  }
  void set_login_security(LoginSecurity s) {
    std::lock_guard lock(login_mu);
    config.login.chap = std::move(s.chap);
    config.login.mutual_chap = std::move(s.mutual_chap);
    config.login.discovery_chap = s.discovery_chap;
    config.login.allowed_initiators = std::move(s.allowed_initiators);
    config.login.target_alias = std::move(s.target_alias);
  }
  mutable std::mutex login_mu;
  // Login failures and protocol errors end their connection, so a per-connection limit would
  // not stop a client that reconnects in a loop (a CHAP guesser) from flooding the log: their
  // messages share this target-wide limit (design.md 7).
  bool allow_connection_log(uint64_t& suppressed) {
    std::lock_guard lock(log_mu);
    return connection_log_limit.allow(suppressed);
  }
  std::mutex log_mu;
  core::RateLimit connection_log_limit{20, std::chrono::seconds(10)};
  std::shared_ptr<scsi::DeviceServer> devices;
  SessionRegistry sessions;
  // Given to the device server (make_device_server) so PREEMPT AND ABORT reaches other sessions.
  IscsiTaskSets task_sets{sessions};
  std::atomic<uint32_t> connections{0};
  // Counters for metrics and the admin endpoint.
  std::atomic<uint64_t> logins_ok{0};
  std::atomic<uint64_t> logins_failed{0};
  std::atomic<uint64_t> rejects_sent{0};
  // Commands still at the device kSlowCommand after they started (each counted once).
  std::atomic<uint64_t> slow_commands{0};
};

}  // namespace swiftness::iscsi
