#include "tests/unit/cache/fault_fs.hpp"

#include <algorithm>
#include <cstring>
#include <system_error>

namespace swiftness::test {

namespace {
std::error_code eio() {
  return std::make_error_code(std::errc::io_error);
}
}  // namespace

class FaultFile final : public cache::File {
 public:
  FaultFile(FaultFs* fs, std::shared_ptr<FaultFs::Node> node, uint64_t epoch)
      : fs_(fs), node_(std::move(node)), epoch_(epoch) {}

  core::Result<void> pwrite(uint64_t offset, std::span<const std::byte> data) override {
    std::lock_guard lock(fs_->mu_);
    if (!alive() || !fs_->step_locked()) return eio();
    auto& cur = node_->current;
    if (cur.size() < offset + data.size()) cur.resize(offset + data.size());
    if (!data.empty()) std::memcpy(cur.data() + offset, data.data(), data.size());
    node_->unsynced.push_back({offset, {data.begin(), data.end()}});
    return {};
  }
  core::Result<void> pread(uint64_t offset, std::span<std::byte> out) override {
    std::lock_guard lock(fs_->mu_);
    if (!alive()) return eio();
    const auto& cur = node_->current;
    size_t have = offset < cur.size() ? std::min(out.size(), size_t(cur.size() - offset)) : 0;
    if (have) std::memcpy(out.data(), cur.data() + offset, have);
    if (out.size() > have) std::memset(out.data() + have, 0, out.size() - have);
    return {};
  }
  core::Result<void> sync() override {
    std::lock_guard lock(fs_->mu_);
    if (!alive() || !fs_->step_locked()) return eio();
    node_->durable = node_->current;
    node_->unsynced.clear();
    return {};
  }
  core::Result<uint64_t> size() override {
    std::lock_guard lock(fs_->mu_);
    if (!alive()) return eio();
    return uint64_t(node_->current.size());
  }
  core::Result<void> preallocate(uint64_t bytes) override {
    std::lock_guard lock(fs_->mu_);
    if (!alive()) return eio();
    if (node_->current.size() < bytes) node_->current.resize(bytes);
    return {};
  }

 private:
  bool alive() const { return !fs_->dead_ && fs_->epoch_ == epoch_; }
  FaultFs* fs_;
  std::shared_ptr<FaultFs::Node> node_;
  uint64_t epoch_;
};

bool FaultFs::step_locked() {
  if (dead_) return false;
  ++ops_;
  if (crash_at_ && ops_ >= *crash_at_) {
    crash_at_.reset();
    power_loss_locked(crash_loss_);
    return false;
  }
  return true;
}

core::Result<std::unique_ptr<cache::File>> FaultFs::open(const std::string& name, bool create,
                                                         bool) {
  std::lock_guard lock(mu_);
  if (dead_) return eio();
  auto it = names_.find(name);
  if (it == names_.end()) {
    if (!create) return std::make_error_code(std::errc::no_such_file_or_directory);
    if (!step_locked()) return eio();
    it = names_.emplace(name, std::make_shared<Node>()).first;
  }
  return std::unique_ptr<cache::File>(new FaultFile(this, it->second, epoch_));
}

bool FaultFs::exists(const std::string& name) {
  std::lock_guard lock(mu_);
  return names_.count(name) > 0;
}

core::Result<void> FaultFs::rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  if (!step_locked()) return eio();
  auto it = names_.find(from);
  if (it == names_.end()) return std::make_error_code(std::errc::no_such_file_or_directory);
  names_[to] = it->second;
  names_.erase(from);
  return {};
}

core::Result<void> FaultFs::remove(const std::string& name) {
  std::lock_guard lock(mu_);
  if (!step_locked()) return eio();
  names_.erase(name);
  return {};
}

core::Result<void> FaultFs::sync_dir() {
  std::lock_guard lock(mu_);
  if (!step_locked()) return eio();
  durable_names_ = names_;
  return {};
}

void FaultFs::power_loss_locked(Loss loss) {
  dead_ = true;
  crash_at_.reset();  // a pending crash_after() belongs to the run that just ended
  for (auto& [name, node] : durable_names_) {
    std::vector<std::byte> survived = node->durable;
    if (loss == Loss::keep_random) {
      // The page cache wrote some of the unsynced data back before the power went: any
      // subset, in any order, each write possibly torn at a sector boundary.
      for (const Write& w : node->unsynced) {
        if (rng_() % 2 == 0) continue;
        size_t len = w.data.size();
        if (len > 512 && rng_() % 3 == 0) len = 512 * (1 + rng_() % (len / 512));
        if (survived.size() < w.offset + len) survived.resize(w.offset + len);
        if (len) std::memcpy(survived.data() + w.offset, w.data.data(), len);
      }
    }
    node->current = survived;
    node->durable = survived;
    node->unsynced.clear();
  }
  names_ = durable_names_;
  ++epoch_;
}

void FaultFs::power_loss(Loss loss) {
  std::lock_guard lock(mu_);
  power_loss_locked(loss);
}

void FaultFs::revive() {
  std::lock_guard lock(mu_);
  dead_ = false;
  ++epoch_;
}

void FaultFs::crash_after(uint64_t ops, Loss loss) {
  std::lock_guard lock(mu_);
  crash_at_ = ops_ + ops;
  crash_loss_ = loss;
}

uint64_t FaultFs::mutating_ops() const {
  std::lock_guard lock(mu_);
  return ops_;
}

bool FaultFs::dead() const {
  std::lock_guard lock(mu_);
  return dead_;
}

}  // namespace swiftness::test
