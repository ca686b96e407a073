// An in-memory core::ObjectStore that behaves like Swift where the cache depends on it
// (../shared/notes/swift-api.md): 412 for If-None-Match: * on an existing name, 416 for an
// unsatisfiable range, 404 for missing containers and objects, 409 for deleting a non-empty
// container, listings sorted by name with prefix/marker/end_marker/limit, bulk delete counting
// deleted/not found, X-Delete-At/After expiry, MD5 ETags, user metadata.
//
// It also carries the fault hooks the cache tests need: fail the next N calls of a verb, take the
// whole store "down", serve the previous (stale) version of overwritten or deleted objects unless
// X-Newest is asked for, corrupt stored bytes behind the ETag's back, and hold calls of a verb
// until the test releases them. Thread-safe; every call completes without real I/O.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/object_store.hpp"

namespace swiftness::core {

// MD5 as lower-case hex, the form of Swift's ETag for non-manifest objects (RFC 1321).
std::string md5_hex(std::span<const std::byte> data);

class MemoryObjectStore final : public ObjectStore {
 public:
  enum class Verb : uint8_t {
    create_container,
    delete_container,
    put,
    get,
    head,
    remove,
    copy,
    list,
    bulk_delete,
  };
  static constexpr size_t kVerbCount = 9;

  MemoryObjectStore() = default;

  boost::asio::awaitable<Result<void>> create_container(
      const std::string& container, const std::string& storage_policy = {}) override;
  boost::asio::awaitable<Result<void>> delete_container(const std::string& container) override;
  boost::asio::awaitable<Result<ObjectInfo>> put(const ObjectKey& key,
                                                 std::span<const std::byte> body,
                                                 const PutOptions& opts = {}) override;
  boost::asio::awaitable<Result<Object>> get(const ObjectKey& key,
                                             const GetOptions& opts = {}) override;
  boost::asio::awaitable<Result<ObjectInfo>> head(const ObjectKey& key) override;
  boost::asio::awaitable<Result<void>> remove(const ObjectKey& key) override;
  boost::asio::awaitable<Result<void>> copy(const ObjectKey& from, const ObjectKey& to) override;
  boost::asio::awaitable<Result<std::vector<ListEntry>>> list(
      const std::string& container, const ListOptions& opts = {}) override;
  boost::asio::awaitable<Result<BulkDeleteResult>> bulk_delete(
      std::span<const ObjectKey> keys) override;

  // ---- fault hooks (tests) ----
  // The next `n` calls of `verb` fail with `error` before touching any state.
  void fail_next(Verb verb, unsigned n, object_errc error);
  // While down, every call fails with `error` (an unreachable proxy).
  void set_down(bool down, object_errc error = object_errc::connection_failed);
  // While stale, GET/HEAD without X-Newest return the version before the latest overwrite or
  // delete of an object, if there is one (a replica that missed the update).
  void set_stale_reads(bool stale);
  // Calls of `verb` wait (polling every millisecond) until release(verb). held(verb) counts the
  // calls currently waiting, so a test can wait until one arrives.
  void hold(Verb verb);
  void release(Verb verb);
  unsigned held(Verb verb) const;

  // ---- inspection (tests) ----
  uint64_t calls(Verb verb) const;
  bool contains(const ObjectKey& key) const;
  std::optional<std::vector<std::byte>> body(const ObjectKey& key) const;
  std::optional<ObjectInfo> info(const ObjectKey& key) const;
  std::vector<std::string> names(const std::string& container) const;
  // Flips bits of one stored byte without updating the ETag (bit rot under the object server).
  bool corrupt(const ObjectKey& key, uint64_t offset);

 private:
  struct Version {
    std::vector<std::byte> body;
    ObjectInfo info;
    std::optional<std::chrono::system_clock::time_point> expires;
  };
  struct Entry {
    std::optional<Version> current;   // nullopt: deleted (kept only while a stale copy exists)
    std::optional<Version> previous;  // what a lagging replica may still serve
  };
  struct Container {
    std::string policy;
    std::map<std::string, Entry> objects;  // std::map: listings are sorted by name
  };

  // Applies the fault hooks for one call; an error means the call fails without effect.
  boost::asio::awaitable<Result<void>> enter(Verb verb);
  // The live version of `name` (not expired, not deleted), or null. Caller holds mu_.
  const Version* live(const Container& c, const std::string& name, bool allow_stale) const;

  mutable std::mutex mu_;
  std::map<std::string, Container> containers_;
  std::array<unsigned, kVerbCount> fail_count_{};
  std::array<object_errc, kVerbCount> fail_error_{};
  std::array<uint64_t, kVerbCount> calls_{};
  std::array<bool, kVerbCount> held_flag_{};
  std::array<unsigned, kVerbCount> held_count_{};
  bool down_ = false;
  object_errc down_error_ = object_errc::connection_failed;
  bool stale_ = false;
  uint64_t timestamp_ = 0;  // fake Last-Modified counter, strictly increasing
};

}  // namespace swiftness::core
