// A LUN's persistent identity: the VPD 83h NAA designator and the serial number. Windows refuses
// two disks with one identifier and clusters key on it, so it must be unique and never change.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "core/result.hpp"

namespace swiftness::target {

struct LunIdentity {
  std::array<uint8_t, 16> naa{};  // NAA type 6 (IEEE Registered Extended)
  std::string serial;             // 32 hex digits, VPD 80h
};

// Reads `<state_dir>/luns/<name>.id`, creating it with fresh random bytes the first time.
core::Result<LunIdentity> load_or_create_identity(const std::string& state_dir,
                                                  const std::string& name);
// Builds the identity from 16 stored random bytes (Swift LUNs keep them in LUN metadata).
LunIdentity identity_from_bytes(const std::array<uint8_t, 16>& id);

}  // namespace swiftness::target
