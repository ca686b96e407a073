#include "core/crc32c.hpp"

#include <isa-l/crc.h>

namespace swiftness::core {

uint32_t crc32c(std::span<const uint8_t> data, uint32_t crc) noexcept {
  // ISA-L's crc32_iscsi takes and returns the register without the final inversion; iSCSI
  // (RFC 7143 §12.1, RFC 3385) wants init ~0 and a final complement, so bridge the two here.
  return ~crc32_iscsi(const_cast<uint8_t*>(data.data()), static_cast<int>(data.size()), ~crc);
}

}  // namespace swiftness::core
