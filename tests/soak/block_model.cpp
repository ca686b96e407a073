#include "tests/soak/block_model.hpp"

#include <algorithm>
#include <cstring>

#include "tests/bench/iscsi/block_pattern.hpp"

namespace swiftness::soak {
namespace {

uint64_t le64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | uint64_t(p[i]);
  return v;
}

std::string holds(std::optional<uint64_t> s) {
  if (!s) return "neither zeros nor a whole pattern block (torn or foreign data)";
  if (*s == 0) return "zeros";
  return "seed " + std::to_string(*s);
}

void note(CheckReport& r, std::string what) {
  if (r.errors.size() < 10) r.errors.push_back(std::move(what));
}

}  // namespace

std::optional<uint64_t> block_seed(uint64_t lba, std::span<const std::byte> block) {
  if (std::all_of(block.begin(), block.end(), [](std::byte b) { return b == std::byte{0}; }))
    return 0;
  if (block.size() < bench::BlockPattern::kHeaderSize ||
      std::memcmp(block.data(), "SWFTPATT", 8) != 0 || le64(block.data() + 8) != lba) {
    return std::nullopt;
  }
  const uint64_t seed = le64(block.data() + 16);
  const bench::BlockPattern pattern(seed, uint32_t(block.size()));
  if (pattern.verify(lba, block, nullptr, nullptr) != 0) return std::nullopt;
  return seed;
}

CheckReport BlockModel::after_crash(uint64_t seed, std::span<const bench::PlannedIo> plan,
                                    std::span<const bench::LbaRange> acked,
                                    std::span<const std::optional<uint64_t>> observed) {
  CheckReport r;
  const uint64_t end = first_ + expected_.size();
  std::vector<bool> durable(expected_.size(), false);
  for (const auto& e : acked) {
    for (uint64_t lba = e.lba; lba < e.lba + e.blocks && lba < end; ++lba) {
      if (lba >= first_) durable[lba - first_] = true;
    }
  }
  for (uint64_t i = 0; i < expected_.size(); ++i) {
    const uint64_t lba = first_ + i;
    const auto& o = observed[i];
    if (durable[i]) {
      ++r.acked_blocks;
      if (o != seed) {
        note(r, "LBA " + std::to_string(lba) + ": acknowledged durable with seed " +
                    std::to_string(seed) + ", holds " + holds(o) +
                    (o == expected_[i] ? " (the previous version: write lost)" : ""));
      }
    } else if (o != seed && o != expected_[i]) {
      note(r, "LBA " + std::to_string(lba) + ": expected seed " + std::to_string(seed) +
                  " or the previous " + holds(expected_[i]) + ", holds " + holds(o));
    }
    if (o == seed) ++r.new_blocks;
    if (o == expected_[i] && o != seed) ++r.kept_blocks;
  }
  // Atomicity: the commands of one iteration cover the range once, disjointly, so a command's
  // blocks either all hold the iteration's seed or none does.
  for (const auto& io : plan) {
    uint64_t with = 0;
    for (uint64_t lba = io.lba; lba < io.lba + io.blocks; ++lba)
      with += observed[lba - first_] == seed;
    if (with == io.blocks) ++r.commands_applied;
    if (with != 0 && with != io.blocks) {
      note(r, "torn write: the command at LBA " + std::to_string(io.lba) + " of " +
                  std::to_string(io.blocks) + " blocks has " + std::to_string(with) +
                  " blocks of seed " + std::to_string(seed) + " and " +
                  std::to_string(io.blocks - with) + " older ones");
    }
  }
  if (r.ok()) {
    for (uint64_t i = 0; i < expected_.size(); ++i)
      expected_[i] = *observed[i];
  }
  return r;
}

CheckReport BlockModel::exact(std::span<const std::optional<uint64_t>> observed) const {
  CheckReport r;
  for (uint64_t i = 0; i < expected_.size(); ++i) {
    if (observed[i] != expected_[i]) {
      note(r, "LBA " + std::to_string(first_ + i) + ": expected " + holds(expected_[i]) +
                  ", holds " + holds(observed[i]));
    }
  }
  return r;
}

}  // namespace swiftness::soak
