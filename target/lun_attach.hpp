// Opens one configured LUN (a file, or a Swift container behind the write-back cache) and builds
// what the SCSI layer needs for it. Used at start and when SIGHUP adds a LUN.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <string>

#include "config/config.hpp"
#include "core/result.hpp"
#include "target/scsi/logical_unit.hpp"

namespace swiftness::cache {
class CachedLun;
}
namespace swiftness::core {
class ObjectStore;
}
namespace swiftness::storage {
class FileBlockDevice;
}

namespace swiftness::target {

struct AttachedLun {
  config::Lun config;
  scsi::LogicalUnitSpec spec;                // spec.device is what the SCSI layer uses
  std::shared_ptr<cache::CachedLun> cached;  // Swift LUNs only: drained and closed at the end
  // File LUNs only, to grow them.
  std::shared_ptr<storage::FileBlockDevice> file;
};

// Lets the caller put a wrapper between the SCSI layer and the device (metrics).
using DeviceWrapper = std::function<std::shared_ptr<core::BlockDevice>(
    const config::Lun&, std::shared_ptr<core::BlockDevice>, std::shared_ptr<cache::CachedLun>)>;

struct AttachContext {
  boost::asio::any_io_executor io;        // runs the cache's background work
  boost::asio::any_io_executor blocking;  // pread/pwrite/fdatasync
  std::shared_ptr<core::ObjectStore> store;
  DeviceWrapper wrap;  // may be empty
  // Called when a LUN is detached (reload, shutdown), after the SCSI layer let go of it; may be
  // empty.
  std::function<void(uint32_t id)> on_detach;
};

// `cache_share` is this LUN's slice of cache.size (the cache is shared evenly between Swift
// LUNs). Errors are logged with the LUN's file:line and returned.
boost::asio::awaitable<core::Result<AttachedLun>> attach_lun(const AttachContext& ctx,
                                                             const config::Config& cfg,
                                                             const config::Lun& lun,
                                                             uint64_t cache_share);

// cache.size split evenly between the Swift LUNs of `cfg`.
uint64_t cache_share(const config::Config& cfg);

}  // namespace swiftness::target
