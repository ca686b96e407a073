#include "tests/bench/iscsi/io_plan.hpp"

#include <algorithm>
#include <utility>

#include "tests/bench/iscsi/block_pattern.hpp"

namespace swiftness::bench {

std::vector<PlannedIo> make_plan(const PlanSpec& spec) {
  std::vector<PlannedIo> plan;
  if (spec.sizes_in_blocks.empty() || spec.blocks == 0) return plan;
  uint64_t rng = spec.seed * 0x9e3779b97f4a7c15ULL + spec.phase * 0xc2b2ae3d27d4eb4fULL + 1;
  const uint64_t end = spec.first_lba + spec.blocks;
  for (uint64_t lba = spec.first_lba; lba < end;) {
    const uint64_t pick = splitmix64(rng) % spec.sizes_in_blocks.size();
    const uint64_t len = std::min<uint64_t>(spec.sizes_in_blocks[pick], end - lba);
    PlannedIo io;
    io.lba = lba;
    io.blocks = static_cast<uint32_t>(len);
    const uint64_t r = splitmix64(rng);
    switch (spec.cdb) {
      case CdbChoice::k10:
        io.use16 = false;
        break;
      case CdbChoice::k16:
        io.use16 = true;
        break;
      case CdbChoice::kMixed:
        io.use16 = (r & 1) != 0;
        break;
    }
    // SBC-3 5.13: READ/WRITE (10) carry a 32-bit LBA and a 16-bit TRANSFER LENGTH.
    if (io.lba + io.blocks > (uint64_t{1} << 32) || io.blocks > 0xffff) io.use16 = true;
    switch (spec.fua) {
      case FuaChoice::kNever:
        io.fua = false;
        break;
      case FuaChoice::kAlways:
        io.fua = true;
        break;
      case FuaChoice::kMixed:
        io.fua = ((r >> 1) & 3) == 0;
        break;  // one in four
    }
    plan.push_back(io);
    lba += len;
  }
  if (spec.shuffle) {
    // Fisher-Yates with our own generator: std::shuffle's output is library-specific, and a
    // failing run must be repeatable anywhere.
    for (size_t i = plan.size(); i > 1; --i) {
      const size_t j = splitmix64(rng) % i;
      std::swap(plan[i - 1], plan[j]);
    }
  }
  return plan;
}

}  // namespace swiftness::bench
