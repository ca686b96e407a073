// Reads a range of a LUN through libiscsi (synchronous calls, one 1 MiB READ (16) at a time)
// and tells, per block, which pattern seed it holds (block_model.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace swiftness::soak {

struct RangeSeeds {
  uint32_t block_size = 0;
  std::vector<std::optional<uint64_t>> seeds;  // per block: seed, 0 = zeros, nullopt = neither
};

// nullopt with *error (login or a READ failed).
std::optional<RangeSeeds> read_seeds(const std::string& url, uint64_t first_lba, uint64_t blocks,
                                     std::string* error);

}  // namespace swiftness::soak
