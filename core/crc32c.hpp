// CRC32C (Castagnoli), as iSCSI digests and the cache journal use it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace swiftness::core {

// Continues a running CRC: pass the previous return value as `crc` (start with 0).
// Implemented with ISA-L's crc32_iscsi, which picks the SSE4.2/PCLMUL path at run time.
uint32_t crc32c(std::span<const uint8_t> data, uint32_t crc = 0) noexcept;
inline uint32_t crc32c(std::span<const std::byte> data, uint32_t crc = 0) noexcept {
  return crc32c(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()),
                crc);
}

}  // namespace swiftness::core
