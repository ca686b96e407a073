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
// Below 64 Ki blocks: a single WRITE SAME never needs more than one 16-bit count's worth, and
// libiscsi's WriteSame16.Unmap then does not pair a 65536-block WRITE (16) with it (beyond our
// MAXIMUM TRANSFER LENGTH).
inline constexpr uint32_t kMaxWriteSameBlocks = 0xffff;
// MAXIMUM TRANSFER LENGTH of a device that sets none (the cache LUN): the transport sizes a
// READ's buffer from the CDB within this limit, so an initiator cannot make one command pin an
// unbounded buffer (issue 8). The file and RAM devices default to the same 8 MiB.
inline constexpr uint32_t kDefaultMaxTransferBytes = 8u << 20;

}  // namespace swiftness::scsi
