// The cache's whole view of Swift (design.md §1). Implementations: swift::SwiftStore over HTTP(S),
// and core::MemoryObjectStore for cache unit tests (kept honest by the same contract tests).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace swiftness::core {

// Object keys are "container/object" split in two so names can be escaped per segment.
struct ObjectKey {
  std::string container;
  std::string name;
};

using Metadata = std::map<std::string, std::string>;  // X-Object-Meta-<key>: lower-case keys

struct PutOptions {
  bool if_none_match = false;           // If-None-Match: * (create-only)
  std::optional<int64_t> delete_at;     // X-Delete-At, seconds since the epoch
  std::optional<int64_t> delete_after;  // X-Delete-After, seconds
  Metadata metadata;
  // MD5 hex of the body when the caller already has it (sent as the ETag, which Swift verifies:
  // a mismatch is 422 unprocessable); empty = the store computes it. Added last, so aggregate
  // initialisers written before it stay valid.
  std::string etag;
};

struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
};

struct GetOptions {
  std::optional<ByteRange> range;  // expects 206; no ETag check on partial content
  bool newest = false;             // X-Newest: true (ask every replica)
  // Whole GETs: check the bytes against the ETag (an MD5 pass over them). A caller that verifies
  // a checksum of its own over every byte (the cache: CRC32C against its index) turns it off;
  // the length is still checked against Content-Length.
  bool verify_etag = true;
};

struct ObjectInfo {
  uint64_t size = 0;
  std::string etag;  // MD5 hex of the content
  Metadata metadata;
  std::string last_modified;
};

struct Object {
  std::vector<std::byte> body;
  ObjectInfo info;
};

struct ListOptions {
  std::string prefix;
  std::string marker;
  std::string end_marker;
  uint32_t limit = 0;  // 0 = everything (paged to completion)
};

struct ListEntry {
  std::string name;
  uint64_t bytes = 0;
  std::string hash;
};

struct BulkDeleteResult {
  uint64_t deleted = 0;
  uint64_t not_found = 0;
  std::vector<std::pair<std::string, int>> errors;  // name, HTTP status
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  virtual boost::asio::awaitable<Result<void>> create_container(
      const std::string& container, const std::string& storage_policy = {}) = 0;
  virtual boost::asio::awaitable<Result<void>> delete_container(const std::string& container) = 0;

  // The body is not copied; it must stay alive until the awaitable completes.
  virtual boost::asio::awaitable<Result<ObjectInfo>> put(const ObjectKey& key,
                                                         std::span<const std::byte> body,
                                                         const PutOptions& opts = {}) = 0;
  virtual boost::asio::awaitable<Result<Object>> get(const ObjectKey& key,
                                                     const GetOptions& opts = {}) = 0;
  virtual boost::asio::awaitable<Result<ObjectInfo>> head(const ObjectKey& key) = 0;
  virtual boost::asio::awaitable<Result<void>> remove(const ObjectKey& key) = 0;
  virtual boost::asio::awaitable<Result<void>> copy(const ObjectKey& from, const ObjectKey& to) = 0;
  virtual boost::asio::awaitable<Result<std::vector<ListEntry>>> list(
      const std::string& container, const ListOptions& opts = {}) = 0;
  virtual boost::asio::awaitable<Result<BulkDeleteResult>> bulk_delete(
      std::span<const ObjectKey> keys) = 0;
};

}  // namespace swiftness::core
