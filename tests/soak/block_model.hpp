// What the crash soak expects each block of the LUN to hold, across kill -9 iterations.
//
// Every iteration writes the range with its own pattern seed (tests/bench/iscsi/block_pattern),
// so a block read back names the iteration that wrote it (0: zeros, never written). After a
// kill and restart, a block must hold:
//   - exactly the iteration's seed if its extent is in the iteration's ack log (durable);
//   - else the iteration's seed or what it held before (the write may have been in flight);
// and every write command of the iteration is all there or not at all (the cache journals one
// record per command). What was read back then becomes the expectation: the restarted daemon
// made its replayed state durable before serving (a checkpoint at attach), so from then on
// every block has exactly one correct value, and the final check against Swift is exact.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tests/bench/iscsi/cli_util.hpp"
#include "tests/bench/iscsi/io_plan.hpp"

namespace swiftness::soak {

// The seed whose pattern `block` holds for `lba`, 0 for all zeros, nullopt for anything else
// (a torn block, another LBA's data, garbage).
std::optional<uint64_t> block_seed(uint64_t lba, std::span<const std::byte> block);

struct CheckReport {
  uint64_t acked_blocks = 0;        // blocks in the ack log, all found with the new seed
  uint64_t new_blocks = 0;          // blocks holding the iteration's seed
  uint64_t kept_blocks = 0;         // blocks still holding what they held before
  uint64_t commands_applied = 0;    // planned write commands found complete
  std::vector<std::string> errors;  // at most a few, each naming the LBA and what it holds
  bool ok() const { return errors.empty(); }
};

class BlockModel {
 public:
  BlockModel(uint64_t first_lba, uint64_t blocks) : first_(first_lba), expected_(blocks, 0) {}

  uint64_t first_lba() const { return first_; }
  uint64_t blocks() const { return expected_.size(); }
  uint64_t expected(uint64_t lba) const { return expected_[lba - first_]; }

  // After an iteration with `seed` whose writer issued the commands of `plan` (repeatedly) and
  // logged `acked` as durable, and a kill -9 and restart: checks `observed` (the seed of each
  // block of the range, as read back; nullopt = neither zeros nor a pattern) and, if it passes,
  // adopts it as the new expectation.
  CheckReport after_crash(uint64_t seed, std::span<const bench::PlannedIo> plan,
                          std::span<const bench::LbaRange> acked,
                          std::span<const std::optional<uint64_t>> observed);

  // No write since the last check (a drain, a fresh gateway reading Swift alone): every block
  // must be exactly as expected.
  CheckReport exact(std::span<const std::optional<uint64_t>> observed) const;

 private:
  uint64_t first_;
  std::vector<uint64_t> expected_;
};

}  // namespace swiftness::soak
