#include "target/scsi/logical_unit_state.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/log.hpp"

namespace swiftness::scsi {

namespace {

std::string pr_path(const LogicalUnitSpec& s) {
  return s.state_dir + "/lun-" + std::to_string(s.lun) + ".pr";
}

std::string mode_path(const LogicalUnitSpec& s) {
  return s.state_dir + "/lun-" + std::to_string(s.lun) + ".mode";
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Write-to-temp, fsync, rename, fsync the directory: after a crash the file holds either the
// old or the new state, never a mix, and the rename itself is durable.
bool write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  ok = ok && std::rename(tmp.c_str(), path.c_str()) == 0;
  if (ok) {
    const std::string dir = std::filesystem::path(path).parent_path().string();
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ok = dfd >= 0 && ::fsync(dfd) == 0;
    if (dfd >= 0) ::close(dfd);
  }
  return ok;
}

}  // namespace

LogicalUnitState::LogicalUnitState(LogicalUnitSpec spec)
    : spec_(std::move(spec)),
      mode_(spec_.write_cache, !spec_.state_dir.empty()),
      block_count_(spec_.device->geometry().block_count) {
  if (!spec_.state_dir.empty()) {
    // APTPL (SPC-4 5.13.5): restore the registrations and reservation saved before a restart.
    if (auto text = read_file(pr_path(spec_))) {
      if (auto pr = PersistentReservations::parse(*text)) {
        pr_ = std::move(*pr);
      } else {
        core::logger("scsi")->error("LUN {}: ignoring unreadable reservation state {}", spec_.lun,
                                    pr_path(spec_));
      }
    }
    // Saved mode pages (SPC-4 7.5.2) are what a power cycle brings back; they win over the
    // configured write_cache, which only sets the default.
    if (auto text = read_file(mode_path(spec_))) {
      if (mode_.restore_saved(*text)) {
        core::logger("scsi")->info("LUN {}: mode pages restored from saved values (WCE={})",
                                   spec_.lun, mode_.wce() ? 1 : 0);
      } else {
        core::logger("scsi")->error("LUN {}: ignoring unreadable saved mode pages {}", spec_.lun,
                                    mode_path(spec_));
      }
    }
  }
  reservations_changed();
  mode_changed();
}

void LogicalUnitState::establish_ua_locked(uint64_t id, SenseReason r) {
  auto& q = ua_[id];
  for (auto x : q)
    if (x == r) return;  // the same condition twice is reported once
  // SAM-5 5.14: a reset UA supersedes everything queued before it.
  if (r == SenseReason::power_on_reset) {
    ua_count_.fetch_sub(uint32_t(q.size()), std::memory_order_release);
    q.clear();
  }
  q.push_back(r);
  ua_count_.fetch_add(1, std::memory_order_release);
}

void LogicalUnitState::establish_ua(uint64_t id, SenseReason r) {
  std::lock_guard lock(mu_);
  establish_ua_locked(id, r);
}

std::optional<SenseReason> LogicalUnitState::take_ua(uint64_t id) {
  if (!maybe_unit_attention()) return std::nullopt;
  std::lock_guard lock(mu_);
  auto it = ua_.find(id);
  if (it == ua_.end() || it->second.empty()) return std::nullopt;
  SenseReason r = it->second.front();
  it->second.pop_front();
  ua_count_.fetch_sub(1, std::memory_order_release);
  return r;
}

void LogicalUnitState::drop_nexus(uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = ua_.find(id);
  if (it != ua_.end()) {
    ua_count_.fetch_sub(uint32_t(it->second.size()), std::memory_order_release);
    ua_.erase(it);
  }
}

bool LogicalUnitState::capacity_changed(uint64_t block_count) {
  uint64_t prev = block_count_.load(std::memory_order_relaxed);
  if (prev == block_count) return false;
  return block_count_.compare_exchange_strong(prev, block_count);
}

void LogicalUnitState::mode_changed() {
  d_sense_.store(mode_.d_sense(), std::memory_order_relaxed);
  swp_.store(mode_.swp(), std::memory_order_relaxed);
  wce_.store(mode_.wce(), std::memory_order_relaxed);
}

void LogicalUnitState::reservations_changed() {
  reserved_.store(pr_.reservation().has_value() || spc2_holder_.has_value(),
                  std::memory_order_release);
}

bool LogicalUnitState::persist_pr() {
  if (spec_.state_dir.empty()) return true;
  const std::string path = pr_path(spec_);
  if (!pr_.aptpl()) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
    return true;
  }
  const bool ok = write_file_atomically(path, pr_.serialize());
  if (!ok) core::logger("scsi")->error("LUN {}: cannot save reservation state {}", spec_.lun, path);
  return ok;
}

bool LogicalUnitState::persist_mode() {
  if (spec_.state_dir.empty()) return false;
  const std::string path = mode_path(spec_);
  const bool ok = write_file_atomically(path, mode_.serialize_saved());
  if (!ok) core::logger("scsi")->error("LUN {}: cannot save mode pages {}", spec_.lun, path);
  return ok;
}

}  // namespace swiftness::scsi
