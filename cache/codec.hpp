// Turns chunk content into the bytes stored in a chunk object and back: optional zstd
// compression, then the encryption seam, with the content's CRC32C and the stored bytes' MD5
// (the ETag Swift verifies on PUT). Ranged GETs cannot be checked against the whole-object ETag
// (../shared/notes/swift-api.md), so the content checksum lives in the object's metadata and
// in our index, and is checked on every read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
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
};

class ChunkCodec {
 public:
  ChunkCodec(bool compress, int level, std::shared_ptr<ChunkCipher> cipher = nullptr)
      : compress_(compress), level_(level), cipher_(std::move(cipher)) {}

  core::Result<EncodedChunk> encode(uint64_t chunk, uint64_t gen,
                                    std::span<const std::byte> content) const;
  // Checks the ETag against the body and the content against `expected_crc` (when known) and
  // the CRC in metadata; any mismatch is object_errc::checksum_mismatch.
  core::Result<std::vector<std::byte>> decode(uint64_t chunk, uint64_t gen, const core::Object& obj,
                                              std::optional<uint32_t> expected_crc) const;

 private:
  bool compress_;
  int level_;
  std::shared_ptr<ChunkCipher> cipher_;
};

std::string md5_hex_fast(std::span<const std::byte> data);  // OpenSSL
std::string crc_hex(uint32_t crc);

}  // namespace swiftness::cache
