// Plain result types of Swift-only operations (beyond core::ObjectStore).
#pragma once

#include <cstdint>
#include <string>

namespace swiftness::swift {

// GET /info "swift" section (swift/common/constraints.py); defaults are Swift's own.
struct Constraints {
  uint64_t max_file_size = 5368709122;
  uint32_t max_object_name_length = 1024;
  uint32_t max_container_name_length = 256;
  uint32_t container_listing_limit = 10000;
  uint32_t max_meta_count = 90;
  uint32_t max_meta_name_length = 128;
  uint32_t max_meta_value_length = 256;
  uint32_t max_meta_overall_size = 4096;
  uint32_t max_header_size = 8192;
  bool bulk_delete = false;                  // bulk middleware present
  uint32_t max_deletes_per_request = 10000;  // bulk_delete.max_deletes_per_request
  std::string version;
};

// HEAD of a container.
struct ContainerInfo {
  uint64_t object_count = 0;
  uint64_t bytes_used = 0;
  std::string storage_policy;
};

}  // namespace swiftness::swift
