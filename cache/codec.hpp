// Turns chunk content into the bytes stored in a chunk object and back: optional zstd
// compression, then the encryption seam, with the content's CRC32C and the stored bytes' MD5
// (the ETag Swift verifies on PUT). Ranged GETs cannot be checked against the whole-object ETag
// (../shared/notes/swift-api.md), so the content checksum lives in the object's metadata and
// in our index, and is checked on every read.
//
// Ranged reads (uncompressed, unencrypted chunks only: a zstd frame or a sealed body can only
// be opened whole): the metadata also carries a table of *prefix* CRC32Cs, one per granule of
// the content (64 KiB, larger for chunks over 8 MiB so the table stays <= 128 entries, about
// 1.1 KiB of metadata: Swift allows 256 bytes per value and 4 KiB in all, and ext4 xattrs fail
// beyond ~3.3 KiB, swift-on-loopback.md pitfall 7). Entry i is the CRC32C of content[0, end
// of granule i), so granule i is checked by continuing entry i-1 over its bytes, and the last
// entry is the whole-content CRC our own index holds: a table that does not end in the
// index's CRC is refused, which ties the metadata that arrives with a 206 to our index.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/object_store.hpp"
#include "core/result.hpp"

namespace swiftness::cache {

// Encryption seam: a later issue plugs a real cipher in here (per-LUN key, chunk id and
// generation as the nonce). The codec applies it after compression and before the checksum of
// the stored bytes.
class ChunkCipher {
 public:
  virtual ~ChunkCipher() = default;
  virtual std::string name() const = 0;
  virtual core::Result<std::vector<std::byte>> seal(uint64_t chunk, uint64_t gen,
                                                    std::vector<std::byte> plain) = 0;
  virtual core::Result<std::vector<std::byte>> open(uint64_t chunk, uint64_t gen,
                                                    std::vector<std::byte> sealed) = 0;
};

struct EncodedChunk {
  std::vector<std::byte> body;  // what is PUT
  std::string md5;              // of body, compared with the ETag Swift returns
  uint32_t content_crc = 0;     // CRC32C of the content before encoding
  core::Metadata metadata;
  bool body_is_content = false;  // encode_for_put() of a raw chunk: body is empty, PUT the content
};

class ChunkCodec {
 public:
  ChunkCodec(bool compress, int level, std::shared_ptr<ChunkCipher> cipher = nullptr)
      : compress_(compress), level_(level), cipher_(std::move(cipher)) {}

  core::Result<EncodedChunk> encode(uint64_t chunk, uint64_t gen,
                                    std::span<const std::byte> content) const;
  // As encode(), but a raw chunk (no compression, no cipher) is not copied into `body`: it is
  // stored as it is, so the caller PUTs `content` itself (body_is_content). Saves the upload a
  // 4 MiB zero-fill and copy per chunk, ~0.3 CPU s per GiB drained (tests/bench/cache/README.md).
  core::Result<EncodedChunk> encode_for_put(uint64_t chunk, uint64_t gen,
                                            std::span<const std::byte> content) const;
  // encode_for_put() of several chunks at once: raw ones (no compression, no cipher) share one
  // multi-lane MD5 pass (core/md5_lanes.hpp), ~4x cheaper per byte than OpenSSL's one stream
  // at 8 lanes, with each lane's CRC32C and granule table computed while its bytes are in
  // cache; one alone, or any other codec, goes through encode_for_put().
  struct PutInput {
    uint64_t chunk = 0;
    uint64_t gen = 0;
    std::span<const std::byte> content;
  };
  std::vector<core::Result<EncodedChunk>> encode_for_put_many(std::span<const PutInput> in) const;
  // Checks the content against `expected_crc` (our index's) and the CRC in metadata, and, only
  // when there is no expected CRC, the ETag against the body (with one, the MD5 adds nothing
  // but ~8 ms of CPU per 4 MiB, and the cache's GETs turn SwiftStore's ETag check off for the
  // same reason); any mismatch is object_errc::checksum_mismatch. Takes the object to reuse its
  // body's storage.
  core::Result<std::vector<std::byte>> decode(uint64_t chunk, uint64_t gen, core::Object obj,
                                              std::optional<uint32_t> expected_crc) const;
  // Whether objects this codec writes can be read by range (plain content).
  bool ranged_reads() const { return !compress_ && !cipher_; }

 private:
  core::Result<EncodedChunk> encode(uint64_t chunk, uint64_t gen,
                                    std::span<const std::byte> content, bool copy_raw) const;
  bool compress_;
  int level_;
  std::shared_ptr<ChunkCipher> cipher_;
};

// The per-granule table of an object, from the metadata of a (ranged) GET.
struct RangeTable {
  uint64_t size = 0;     // content bytes
  uint64_t granule = 0;  // bytes per entry; the last granule may be shorter
  std::vector<uint32_t> prefix;
  // [first, last) granules covering bytes [offset, offset + length).
  uint64_t first_granule(uint64_t offset) const { return offset / granule; }
  uint64_t end_granule(uint64_t offset, uint64_t length) const {
    return (offset + length + granule - 1) / granule;
  }
};

// Granule size for content of `size` bytes: 64 KiB, or the multiple of 64 KiB that keeps the
// table at 128 entries or fewer.
uint64_t range_granule(uint64_t size);
// The table of an object if it has one and it ends in `expected_crc` (our index's CRC of the
// whole content); nullopt if the object has no table (compressed, encrypted, or written before
// tables existed): the caller then reads it whole.
std::optional<RangeTable> parse_range_table(const core::Metadata& md, uint32_t expected_crc);
// Checks `bytes`, which start at granule `first` and must cover whole granules (the last one
// may end at the end of the content); object_errc::checksum_mismatch on any difference.
core::Result<void> verify_granules(const RangeTable& t, uint64_t first,
                                   std::span<const std::byte> bytes);

std::string md5_hex_fast(std::span<const std::byte> data);  // OpenSSL
std::string crc_hex(uint32_t crc);

}  // namespace swiftness::cache
