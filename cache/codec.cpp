#include "cache/codec.hpp"

#include <openssl/evp.h>
#include <zstd.h>

#include <cstdio>

#include "core/crc32c.hpp"

namespace swiftness::cache {

namespace {
constexpr const char* kCrcKey = "swiftness-crc32c";
constexpr const char* kCodecKey = "swiftness-codec";
constexpr const char* kSizeKey = "swiftness-size";
constexpr const char* kCipherKey = "swiftness-cipher";

std::error_code mismatch() {
  return core::make_error_code(core::object_errc::checksum_mismatch);
}
}  // namespace

std::string md5_hex_fast(std::span<const std::byte> data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_md5(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < len; ++i) {
    s += kHex[md[i] >> 4];
    s += kHex[md[i] & 15];
  }
  return s;
}

std::string crc_hex(uint32_t crc) {
  char b[9];
  std::snprintf(b, sizeof b, "%08x", crc);
  return b;
}

core::Result<EncodedChunk> ChunkCodec::encode(uint64_t chunk, uint64_t gen,
                                              std::span<const std::byte> content) const {
  EncodedChunk out;
  out.content_crc = core::crc32c(content);
  out.metadata[kCrcKey] = crc_hex(out.content_crc);
  out.metadata[kSizeKey] = std::to_string(content.size());
  if (compress_) {
    out.body.resize(ZSTD_compressBound(content.size()));
    size_t n =
        ZSTD_compress(out.body.data(), out.body.size(), content.data(), content.size(), level_);
    if (ZSTD_isError(n)) return std::make_error_code(std::errc::invalid_argument);
    out.body.resize(n);
    out.metadata[kCodecKey] = "zstd";
  } else {
    out.body.assign(content.begin(), content.end());
    out.metadata[kCodecKey] = "raw";
  }
  if (cipher_) {
    auto sealed = cipher_->seal(chunk, gen, std::move(out.body));
    if (!sealed) return sealed.error();
    out.body = std::move(*sealed);
    out.metadata[kCipherKey] = cipher_->name();
  }
  out.md5 = md5_hex_fast(out.body);
  return out;
}

core::Result<std::vector<std::byte>> ChunkCodec::decode(
    uint64_t chunk, uint64_t gen, const core::Object& obj,
    std::optional<uint32_t> expected_crc) const {
  if (!obj.info.etag.empty() && md5_hex_fast(obj.body) != obj.info.etag) return mismatch();
  const auto& md = obj.info.metadata;
  auto crc_it = md.find(kCrcKey);
  auto codec_it = md.find(kCodecKey);
  auto size_it = md.find(kSizeKey);
  if (crc_it == md.end() || codec_it == md.end() || size_it == md.end()) return mismatch();
  std::vector<std::byte> body = obj.body;
  if (md.count(kCipherKey)) {
    if (!cipher_) return std::make_error_code(std::errc::operation_not_supported);
    auto opened = cipher_->open(chunk, gen, std::move(body));
    if (!opened) return opened.error();
    body = std::move(*opened);
  }
  uint64_t size = 0;
  try {
    size = std::stoull(size_it->second);
  } catch (const std::exception&) {
    return mismatch();
  }
  std::vector<std::byte> content;
  if (codec_it->second == "zstd") {
    if (size > (1ull << 27)) return mismatch();
    content.resize(size);
    size_t n = ZSTD_decompress(content.data(), content.size(), body.data(), body.size());
    if (ZSTD_isError(n) || n != size) return mismatch();
  } else if (codec_it->second == "raw") {
    if (body.size() != size) return mismatch();
    content = std::move(body);
  } else {
    return mismatch();
  }
  uint32_t crc = core::crc32c(std::span<const std::byte>(content));
  if (crc_hex(crc) != crc_it->second) return mismatch();
  if (expected_crc && *expected_crc != crc) return mismatch();
  return content;
}

}  // namespace swiftness::cache
