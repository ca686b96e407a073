// Per-LU state shared by every I_T nexus: mode pages, unit attentions, reservations, the range
// lock. One mutex guards the small state; it is never held across a co_await on the device.
#pragma once

#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "target/scsi/logical_unit.hpp"
#include "target/scsi/mode_pages.hpp"
#include "target/scsi/persistent_reservations.hpp"
#include "target/scsi/range_lock.hpp"

namespace swiftness::scsi {

class LogicalUnitState {
 public:
  explicit LogicalUnitState(LogicalUnitSpec spec);

  const LogicalUnitSpec& spec() const { return spec_; }
  core::BlockDevice& device() const { return *spec_.device; }

  // Fast-path hints read without the mutex: true only if something may need the slow path.
  bool maybe_unit_attention() const { return ua_count_.load(std::memory_order_acquire) != 0; }
  bool maybe_reserved() const { return reserved_.load(std::memory_order_acquire); }
  bool descriptor_sense() const { return d_sense_.load(std::memory_order_relaxed); }
  bool software_write_protect() const { return swp_.load(std::memory_order_relaxed); }
  bool write_cache_enabled() const { return wce_.load(std::memory_order_relaxed); }

  // Unit attentions (SAM-5 5.14): queued per nexus id, reported once each, oldest first.
  void establish_ua(uint64_t nexus_id, SenseReason r);
  std::optional<SenseReason> take_ua(uint64_t nexus_id);
  void drop_nexus(uint64_t nexus_id);

  // Called with the block count seen now; true once per change (the caller then establishes
  // CAPACITY DATA HAS CHANGED for every nexus). Lock-free when nothing changed.
  bool capacity_changed(uint64_t block_count);

  std::mutex& mutex() { return mu_; }
  // Everything below requires mutex().
  ModePages& mode() { return mode_; }
  void mode_changed();  // refresh the fast-path copies
  PersistentReservations& pr() { return pr_; }
  std::optional<ItNexusId>& spc2_holder() { return spc2_holder_; }
  void reservations_changed();
  // Writes (or removes) the APTPL file in state_dir. Returns false on I/O failure.
  bool persist_pr();
  // Writes the saved mode pages to state_dir (MODE SELECT with SP=1). False on I/O failure.
  bool persist_mode();

  RangeLock& ranges() { return ranges_; }

 private:
  void establish_ua_locked(uint64_t nexus_id, SenseReason r);

  LogicalUnitSpec spec_;
  std::mutex mu_;
  ModePages mode_;
  PersistentReservations pr_;
  std::optional<ItNexusId> spc2_holder_;
  std::unordered_map<uint64_t, std::deque<SenseReason>> ua_;
  std::atomic<uint32_t> ua_count_{0};
  std::atomic<bool> reserved_{false};
  std::atomic<bool> d_sense_{false};
  std::atomic<bool> swp_{false};
  std::atomic<bool> wce_{true};
  std::atomic<uint64_t> block_count_;
  RangeLock ranges_;
};

}  // namespace swiftness::scsi
