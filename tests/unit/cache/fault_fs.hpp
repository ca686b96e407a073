// A cache::FileSystem in memory that remembers what was synced and drops the rest on a
// simulated power loss (design.md §4, after RocksDB's FaultInjectionTestFS):
//  - file contents: what sync() covered survives; later writes are dropped, or (keep_random)
//    a random subset of them survives, each possibly torn at a 512-byte boundary;
//  - names: creates, renames and removes survive only once sync_dir() ran.
// crash_after(n) cuts the power by itself after n more mutating calls, so a test can crash at
// every step of a journal commit or a checkpoint. After a power loss every old handle fails
// with EIO until revive(); files opened after revive() see the surviving state.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <vector>

#include "cache/file_system.hpp"

namespace swiftness::test {

class FaultFs final : public cache::FileSystem {
 public:
  enum class Loss { drop_unsynced, keep_random };

  explicit FaultFs(uint32_t seed = 1) : rng_(seed) {}

  core::Result<std::unique_ptr<cache::File>> open(const std::string& name, bool create,
                                                  bool direct) override;
  bool exists(const std::string& name) override;
  core::Result<void> rename(const std::string& from, const std::string& to) override;
  core::Result<void> remove(const std::string& name) override;
  core::Result<void> sync_dir() override;

  void power_loss(Loss loss = Loss::drop_unsynced);
  void revive();
  // Loses power by itself after `ops` more mutating calls (pwrite, sync, rename, remove,
  // sync_dir, open with create); the call that hits zero fails.
  void crash_after(uint64_t ops, Loss loss = Loss::drop_unsynced);
  uint64_t mutating_ops() const;
  bool dead() const;

 private:
  friend class FaultFile;
  struct Write {
    uint64_t offset;
    std::vector<std::byte> data;
  };
  struct Node {
    std::vector<std::byte> current;
    std::vector<std::byte> durable;
    std::vector<Write> unsynced;
  };
  // Counts a mutating call; false if the power is (now) off. Caller holds mu_.
  bool step_locked();
  void power_loss_locked(Loss loss);

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Node>> names_;
  std::map<std::string, std::shared_ptr<Node>> durable_names_;
  std::mt19937 rng_;
  uint64_t epoch_ = 0;
  bool dead_ = false;
  uint64_t ops_ = 0;
  std::optional<uint64_t> crash_at_;
  Loss crash_loss_ = Loss::drop_unsynced;
};

}  // namespace swiftness::test
