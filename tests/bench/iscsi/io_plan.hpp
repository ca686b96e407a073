#pragma once
// How iscsi-rwverify cuts an LBA range into commands: pieces of sizes drawn from a list (so one
// run mixes 4 KiB and 1 MiB transfers), issued in a shuffled order (so the target sees
// out-of-order, non-sequential commands), each with a CDB flavour and FUA bit. Everything derives
// from a seed, so a run can be repeated exactly.

#include <cstdint>
#include <span>
#include <vector>

namespace swiftness::bench {

enum class CdbChoice { k10, k16, kMixed };
enum class FuaChoice { kNever, kAlways, kMixed };

struct PlannedIo {
  uint64_t lba = 0;
  uint32_t blocks = 0;
  bool use16 = false;  // READ/WRITE (16) instead of (10)
  bool fua = false;
};

struct PlanSpec {
  uint64_t first_lba = 0;
  uint64_t blocks = 0;
  std::vector<uint32_t> sizes_in_blocks;  // each > 0
  uint64_t seed = 0;
  uint32_t phase = 0;  // distinct phases (write, read) cut differently
  CdbChoice cdb = CdbChoice::kMixed;
  FuaChoice fua = FuaChoice::kNever;
  bool shuffle = true;
};

// Covers [first_lba, first_lba + blocks) exactly once with disjoint pieces. A piece whose LBA or
// length does not fit a 10-byte CDB (LBA >= 2^32, length > 65535 blocks) always uses 16.
std::vector<PlannedIo> make_plan(const PlanSpec& spec);

}  // namespace swiftness::bench
