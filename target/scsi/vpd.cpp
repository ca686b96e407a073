#include "target/scsi/vpd.hpp"

#include <algorithm>
#include <string>

#include "target/scsi/device_server_impl.hpp"
#include "target/scsi/handlers.hpp"

namespace swiftness::scsi {

namespace {

// Every VPD page: byte 0 PERIPHERAL QUALIFIER/DEVICE TYPE (00h disk), byte 1 PAGE CODE,
// bytes 2-3 PAGE LENGTH (filled by the caller from the writer's length).

void supported_pages(const Ctx&, DataInWriter& w) {
  size_t off = 4;
  for (const auto& p : vpd_pages())
    w.u8(off++, p.code);
}

void unit_serial_number(const Ctx& c, DataInWriter& w) {
  w.bytes(4, c.lu->spec().serial.data(), c.lu->spec().serial.size());
}

// One designation descriptor (SPC-4 7.8.6.1): byte 0 PROTOCOL IDENTIFIER(7-4) CODE SET(3-0);
// byte 1 PIV(7) ASSOCIATION(5-4) DESIGNATOR TYPE(3-0); byte 3 DESIGNATOR LENGTH.
size_t designator(DataInWriter& w, size_t off, uint8_t proto_codeset, uint8_t piv_assoc_type,
                  const void* data, size_t len) {
  w.u8(off, proto_codeset);
  w.u8(off + 1, piv_assoc_type);
  w.u8(off + 3, uint8_t(len));
  w.bytes(off + 4, data, len);
  return off + 4 + len;
}

void device_identification(const Ctx& c, DataInWriter& w) {
  const auto& s = c.lu->spec();
  size_t off = 4;
  // NAA IEEE Registered Extended (type 3, binary, LU association): unique and persistent per
  // LUN; Windows refuses duplicates (windows-initiator.md §5).
  off = designator(w, off, 0x01, 0x03, s.naa_id.data(), s.naa_id.size());
  // T10 vendor ID (type 1, ASCII): vendor + serial.
  std::string t10 = std::string(kVendorId) + s.serial;
  off = designator(w, off, 0x02, 0x01, t10.data(), t10.size());
  // Relative target port (type 4, target port association, iSCSI protocol, PIV): port 1.
  const uint8_t rel_port[4] = {0, 0, 0, 1};
  off = designator(w, off, 0x51, 0x94, rel_port, 4);
  // Target port group (type 5).
  const uint16_t tpg = c.cmd.nexus ? c.cmd.nexus->target_portal_group : 1;
  const uint8_t group[4] = {0, 0, uint8_t(tpg >> 8), uint8_t(tpg)};
  off = designator(w, off, 0x51, 0x95, group, 4);
  // SCSI name string of the target port (type 8, UTF-8): "<iqn>,t,0x<tpgt>", NUL-padded to a
  // multiple of four (SPC-4 7.8.6.11).
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, ",t,0x%04x", tpg);
  std::string name = c.server.target_name() + suffix;
  name.resize((name.size() + 4) & ~size_t(3), '\0');
  off = designator(w, off, 0x53, 0x98, name.data(), name.size());
  // SCSI name string of the target device (association 10b).
  std::string dev = c.server.target_name();
  dev.resize((dev.size() + 4) & ~size_t(3), '\0');
  designator(w, off, 0x53, 0xa8, dev.data(), dev.size());
}

void block_limits(const Ctx& c, DataInWriter& w) {
  const auto& g = c.geo;
  w.extend(0x40);  // PAGE LENGTH 3Ch (HCK expects it)
  w.u8(4, 0x00);   // WSNZ 0: WRITE SAME with NUMBER OF LOGICAL BLOCKS 0 runs to the end
  w.u8(5, uint8_t(kMaxCompareAndWriteBlocks));
  w.u16(6, uint16_t(std::max<uint32_t>(1, g.unmap_granularity_blocks)));  // OPT. XFER GRAN.
  w.u32(8, g.max_transfer_blocks);
  w.u32(12, g.optimal_transfer_blocks);
  w.u32(16, 0);  // MAXIMUM PREFETCH LENGTH: 0 = not reported
  if (g.thin) {
    w.u32(20, g.max_unmap_blocks);
    w.u32(24, g.max_unmap_descriptors);
    w.u32(28, g.unmap_granularity_blocks);
    w.u32(32, 0x80000000u);  // UGAVALID(31), UNMAP GRANULARITY ALIGNMENT 0
  }
  w.u64(36, kMaxWriteSameBlocks);
}

void block_device_characteristics(const Ctx& c, DataInWriter& w) {
  w.extend(0x40);
  w.u16(4, c.geo.non_rotational ? 1 : 0);  // MEDIUM ROTATION RATE 1: non-rotating medium
}

void logical_block_provisioning(const Ctx& c, DataInWriter& w) {
  w.extend(8);  // PAGE LENGTH 4 (SCST's layout that Windows 2012 recognizes)
  if (c.geo.thin) {
    // byte 5: LBPU(7) LBPWS(6) LBPWS10(5) LBPRZ(2) ANC_SUP(1) DP(0);
    // byte 6: PROVISIONING TYPE(2-0) 010b = thin.
    w.u8(5, 0xe4);
    w.u8(6, 0x02);
  }
}

constexpr VpdPage kVpd[] = {
    {0x00, supported_pages},
    {0x80, unit_serial_number},
    {0x83, device_identification},
    {0xb0, block_limits},
    {0xb1, block_device_characteristics},
    {0xb2, logical_block_provisioning},
};

}  // namespace

std::span<const VpdPage> vpd_pages() {
  return kVpd;
}

}  // namespace swiftness::scsi
