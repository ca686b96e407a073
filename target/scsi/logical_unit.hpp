// The factory the daemon calls: one DeviceServer for a target and its logical units.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/block_device.hpp"
#include "target/scsi/device_server.hpp"
#include "target/scsi/task_sets.hpp"

namespace swiftness::scsi {

struct LogicalUnitSpec {
  uint64_t lun = 0;
  std::shared_ptr<core::BlockDevice> device;
  std::string product;               // INQUIRY PRODUCT IDENTIFICATION (16 chars max)
  std::string serial;                // VPD 80h UNIT SERIAL NUMBER
  std::array<uint8_t, 16> naa_id{};  // VPD 83h NAA IEEE Registered Extended (type 6), per LUN
  std::string state_dir;             // where APTPL reservation state persists, "" = none
  bool write_cache = true;           // initial Caching mode page WCE
};

// `task_sets` (owned by the transport, outliving the server) lets PREEMPT AND ABORT end other
// nexuses' tasks; without it (unit tests of the SCSI layer alone) nothing is aborted.
std::unique_ptr<DeviceServer> make_device_server(std::string target_name,
                                                 std::vector<LogicalUnitSpec> lus,
                                                 TaskSets* task_sets = nullptr);

}  // namespace swiftness::scsi
