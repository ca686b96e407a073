#include <cstdio>

#include "target/iscsi/connection.hpp"
#include "target/iscsi/target_context.hpp"

namespace swiftness::iscsi {
namespace {
std::string key_of(const std::string& initiator, const std::array<uint8_t, 6>& isid) {
  char hex[13];
  std::snprintf(hex, sizeof hex, "%02x%02x%02x%02x%02x%02x", isid[0], isid[1], isid[2], isid[3],
                isid[4], isid[5]);
  return initiator + ",i,0x" + hex;
}
}  // namespace

std::shared_ptr<Connection> SessionRegistry::register_session(
    const std::string& initiator, const std::array<uint8_t, 6>& isid, uint16_t tsih,
    const std::shared_ptr<Connection>& conn) {
  std::lock_guard lock(mu_);
  Entry& e = sessions_[key_of(initiator, isid)];
  auto old = e.conn.lock();
  e.conn = conn;
  e.tsih = tsih;
  return old;
}

bool SessionRegistry::unregister(const std::string& initiator, const std::array<uint8_t, 6>& isid,
                                 const Connection* conn) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(key_of(initiator, isid));
  if (it == sessions_.end()) return false;
  auto cur = it->second.conn.lock();
  if (cur.get() != conn && cur) return false;
  sessions_.erase(it);
  return true;
}

bool SessionRegistry::tsih_valid(const std::string& initiator, const std::array<uint8_t, 6>& isid,
                                 uint16_t tsih) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(key_of(initiator, isid));
  return it != sessions_.end() && it->second.tsih == tsih && !it->second.conn.expired();
}

uint16_t SessionRegistry::new_tsih() {
  std::lock_guard lock(mu_);
  // TSIH 0 is reserved (RFC 7143 §11.12.6); skip values still in use after a wrap.
  for (int tries = 0; tries < 65536; ++tries) {
    uint16_t t = next_tsih_++;
    if (next_tsih_ == 0) next_tsih_ = 1;
    bool used = false;
    for (auto& [k, e] : sessions_)
      if (e.tsih == t && !e.conn.expired()) used = true;
    if (!used) return t;
  }
  return 0;
}

uint64_t SessionRegistry::nexus_id(const std::string& initiator_port) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = nexus_ids_.try_emplace(initiator_port, next_nexus_);
  if (inserted) ++next_nexus_;
  return it->second;
}

size_t SessionRegistry::session_count() {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (auto& [k, e] : sessions_)
    n += !e.conn.expired();
  return n;
}

std::vector<std::shared_ptr<Connection>> SessionRegistry::all() {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<Connection>> out;
  for (auto& [k, e] : sessions_)
    if (auto c = e.conn.lock()) out.push_back(std::move(c));
  return out;
}

}  // namespace swiftness::iscsi
