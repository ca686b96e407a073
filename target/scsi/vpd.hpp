// INQUIRY vital product data pages as a table (SPC-4 7.8, SBC-3 6.5): page code -> builder.
#pragma once

#include <cstdint>
#include <span>

#include "target/scsi/data_in_writer.hpp"

namespace swiftness::scsi {

struct Ctx;

struct VpdPage {
  uint8_t code;
  void (*build)(const Ctx&, DataInWriter&);
};

// Ascending page-code order: VPD 00h lists them in this order (Windows requires ascending).
std::span<const VpdPage> vpd_pages();

// Vendor identification reported in INQUIRY and the T10 vendor designator.
inline constexpr char kVendorId[] = "SWIFTNSS";
inline constexpr char kRevision[] = "0001";
// B0h limits that do not come from the device.
inline constexpr uint32_t kMaxCompareAndWriteBlocks = 255;  // a one-byte CDB field
inline constexpr uint32_t kMaxWriteSameBlocks = 0x10000;

}  // namespace swiftness::scsi
