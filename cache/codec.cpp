#include "cache/codec.hpp"

#include <openssl/evp.h>
#include <zstd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>

#include "core/crc32c.hpp"
#include "core/md5_lanes.hpp"

namespace swiftness::cache {

namespace {
constexpr const char* kCrcKey = "swiftness-crc32c";
constexpr const char* kCodecKey = "swiftness-codec";
constexpr const char* kSizeKey = "swiftness-size";
constexpr const char* kCipherKey = "swiftness-cipher";
constexpr const char* kGranuleKey = "swiftness-granule";
constexpr const char* kTablePrefix = "swiftness-crcs-";  // -0, -1, ...: 32 entries per key
constexpr size_t kEntriesPerKey = 32;                    // 256 hex characters: Swift's limit
constexpr uint64_t kMinGranule = 64 * 1024;
constexpr uint64_t kMaxEntries = 128;

std::error_code mismatch() {
  return core::make_error_code(core::object_errc::checksum_mismatch);
}
}  // namespace

uint64_t range_granule(uint64_t size) {
  uint64_t per = (size + kMaxEntries - 1) / kMaxEntries;
  return std::max(kMinGranule, (per + kMinGranule - 1) / kMinGranule * kMinGranule);
}

namespace {

std::optional<uint64_t> parse_u64(const core::Metadata& md, const char* key) {
  auto it = md.find(key);
  if (it == md.end() || it->second.empty() || it->second.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : it->second) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + uint64_t(c - '0');
  }
  return v;
}

}  // namespace

std::optional<RangeTable> parse_range_table(const core::Metadata& md, uint32_t expected_crc) {
  auto codec = md.find(kCodecKey);
  if (codec == md.end() || codec->second != "raw" || md.count(kCipherKey)) return std::nullopt;
  auto size = parse_u64(md, kSizeKey);
  auto granule = parse_u64(md, kGranuleKey);
  if (!size || !granule || *granule == 0 || *size == 0) return std::nullopt;
  RangeTable t;
  t.size = *size;
  t.granule = *granule;
  const uint64_t n = (t.size + t.granule - 1) / t.granule;
  if (n > 4096) return std::nullopt;
  std::string hex;
  for (size_t key = 0; hex.size() < n * 8; ++key) {
    auto it = md.find(kTablePrefix + std::to_string(key));
    if (it == md.end()) return std::nullopt;
    hex += it->second;
  }
  if (hex.size() != n * 8) return std::nullopt;
  t.prefix.resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    uint32_t v = 0;
    for (int k = 0; k < 8; ++k) {
      char c = hex[i * 8 + k];
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) return std::nullopt;
      v = v << 4 | uint32_t(d);
    }
    t.prefix[i] = v;
  }
  // The table must describe the content our index knows, or none of it is believed.
  if (t.prefix.back() != expected_crc) return std::nullopt;
  return t;
}

core::Result<void> verify_granules(const RangeTable& t, uint64_t first,
                                   std::span<const std::byte> bytes) {
  uint64_t off = first * t.granule;
  size_t pos = 0;
  for (uint64_t i = first; pos < bytes.size(); ++i) {
    if (i >= t.prefix.size()) return mismatch();
    const uint64_t len = std::min<uint64_t>(t.granule, t.size - off);
    if (pos + len > bytes.size()) return mismatch();  // a granule cut short
    const uint32_t start = i == 0 ? 0 : t.prefix[i - 1];
    if (core::crc32c(bytes.subspan(pos, len), start) != t.prefix[i]) return mismatch();
    pos += len;
    off += len;
  }
  return {};
}

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

namespace {

// The range table of one raw chunk, built from the running CRC32C as the content goes by in
// steps that never cross a granule's end: an entry at each granule's end and at the content's.
class TableBuilder {
 public:
  TableBuilder(EncodedChunk& out, uint64_t size)
      : out_(out), size_(size), g_(range_granule(size)) {}
  uint64_t granule() const { return g_; }
  // `bytes` are the content from `offset` on.
  void add(std::span<const std::byte> bytes, uint64_t offset) {
    crc_ = core::crc32c(bytes, crc_);
    const uint64_t end = offset + bytes.size();
    if (end % g_ != 0 && end != size_) return;
    hex_ += crc_hex(crc_);
    if (hex_.size() == kEntriesPerKey * 8) {
      out_.metadata[kTablePrefix + std::to_string(key_++)] = std::move(hex_);
      hex_.clear();
    }
  }
  void finish() {
    if (!hex_.empty()) out_.metadata[kTablePrefix + std::to_string(key_)] = std::move(hex_);
    out_.metadata[kGranuleKey] = std::to_string(g_);
    out_.content_crc = crc_;
  }

 private:
  EncodedChunk& out_;
  uint64_t size_;
  uint64_t g_;
  std::string hex_;
  size_t key_ = 0;
  uint32_t crc_ = 0;
};

// Raw content, no cipher (the common case): the body is the content, so one sweep per granule
// copies it into the body, extends the running CRC32C (whose value at each granule's end is the
// range table's entry, and at the end the content CRC) and feeds the MD5, all while the
// granule is in cache: one pass over memory instead of four (copy, CRC, table, MD5).
// With `copy` false the body stays empty: the caller PUTs the content itself (encode_for_put).
void encode_raw_one_pass(std::span<const std::byte> content, EncodedChunk& out, bool copy) {
  TableBuilder table(out, content.size());
  const uint64_t g = table.granule();
  if (copy) out.body.resize(content.size());
  EVP_MD_CTX* md5 = EVP_MD_CTX_new();
  if (md5 == nullptr || EVP_DigestInit_ex(md5, EVP_md5(), nullptr) != 1) {
    EVP_MD_CTX_free(md5);
    throw std::bad_alloc();
  }
  for (uint64_t off = 0; off < content.size(); off += g) {
    const size_t len = size_t(std::min<uint64_t>(g, content.size() - off));
    const std::byte* dst = content.data() + off;
    if (copy) {
      std::memcpy(out.body.data() + off, dst, len);
      dst = out.body.data() + off;
    }
    table.add(std::span<const std::byte>(dst, len), off);
    EVP_DigestUpdate(md5, dst, len);
  }
  table.finish();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(md5, digest, &n);
  EVP_MD_CTX_free(md5);
  static constexpr char kHex[] = "0123456789abcdef";
  out.md5.clear();
  for (unsigned i = 0; i < n; ++i) {
    out.md5 += kHex[digest[i] >> 4];
    out.md5 += kHex[digest[i] & 15];
  }
}

// encode_raw_one_pass (without the copy) for up to kMd5MaxLanes chunks at once: in steps of
// the smallest granule, the lanes' MD5s advance in lockstep over the whole blocks all of them
// have, each lane then over its own further blocks, and each lane's CRC32C and table over the
// step, while the step's bytes of every lane (8 x 64 KiB) are in cache.
void encode_raw_lanes(std::span<const std::span<const std::byte>> contents,
                      std::span<EncodedChunk> outs) {
  const size_t n = contents.size();
  std::vector<TableBuilder> tables;
  tables.reserve(n);
  core::Md5State states[core::kMd5MaxLanes];
  const std::byte* at[core::kMd5MaxLanes];
  uint64_t common = UINT64_MAX, longest = 0;
  for (size_t l = 0; l < n; ++l) {
    tables.emplace_back(outs[l], contents[l].size());
    states[l] = core::md5_init();
    common = std::min<uint64_t>(common, contents[l].size() / core::kMd5Block * core::kMd5Block);
    longest = std::max<uint64_t>(longest, contents[l].size());
  }
  for (uint64_t off = 0; off < longest; off += kMinGranule) {
    const uint64_t lockstep_end = std::min(off + kMinGranule, common);
    if (lockstep_end > off) {
      for (size_t l = 0; l < n; ++l)
        at[l] = contents[l].data() + off;
      core::md5_blocks_lanes(states, at, n, size_t((lockstep_end - off) / core::kMd5Block));
    }
    for (size_t l = 0; l < n; ++l) {
      const auto c = contents[l];
      if (off >= c.size()) continue;
      const uint64_t whole = c.size() / core::kMd5Block * core::kMd5Block;
      const uint64_t from = std::max(off, common), to = std::min(off + kMinGranule, whole);
      if (to > from)
        core::md5_blocks(states[l], c.data() + from, size_t((to - from) / core::kMd5Block));
      const uint64_t end = std::min<uint64_t>(off + kMinGranule, c.size());
      tables[l].add(c.subspan(off, end - off), off);
    }
  }
  for (size_t l = 0; l < n; ++l) {
    tables[l].finish();
    const auto c = contents[l];
    const uint64_t whole = c.size() / core::kMd5Block * core::kMd5Block;
    outs[l].md5 = core::md5_digest_hex(core::md5_finish(states[l], c.subspan(whole), c.size()));
  }
}

void set_raw_metadata(EncodedChunk& out, uint64_t size) {
  out.metadata[kCrcKey] = crc_hex(out.content_crc);
  out.metadata[kSizeKey] = std::to_string(size);
  out.metadata[kCodecKey] = "raw";
}

}  // namespace

core::Result<EncodedChunk> ChunkCodec::encode(uint64_t chunk, uint64_t gen,
                                              std::span<const std::byte> content) const {
  return encode(chunk, gen, content, true);
}

core::Result<EncodedChunk> ChunkCodec::encode_for_put(uint64_t chunk, uint64_t gen,
                                                      std::span<const std::byte> content) const {
  return encode(chunk, gen, content, false);
}

std::vector<core::Result<EncodedChunk>> ChunkCodec::encode_for_put_many(
    std::span<const PutInput> in) const {
  std::vector<core::Result<EncodedChunk>> results;
  results.reserve(in.size());
  // Raw, non-empty chunks in groups of up to kMd5MaxLanes; the rest (and a group of one, where
  // OpenSSL's single stream is faster than one lane of eight) one by one.
  std::vector<size_t> lanes;
  std::vector<std::span<const std::byte>> contents;
  std::vector<EncodedChunk> outs;
  auto flush = [&] {
    if (lanes.size() == 1) {
      results[lanes[0]] = encode_for_put(in[lanes[0]].chunk, in[lanes[0]].gen, contents[0]);
    } else if (!lanes.empty()) {
      outs.assign(lanes.size(), EncodedChunk{});
      encode_raw_lanes(contents, outs);
      for (size_t l = 0; l < lanes.size(); ++l) {
        outs[l].body_is_content = true;
        set_raw_metadata(outs[l], contents[l].size());
        results[lanes[l]] = std::move(outs[l]);
      }
    }
    lanes.clear();
    contents.clear();
  };
  for (size_t i = 0; i < in.size(); ++i) {
    results.emplace_back(std::make_error_code(std::errc::invalid_argument));
    if (compress_ || cipher_ || in[i].content.empty()) {
      results[i] = encode_for_put(in[i].chunk, in[i].gen, in[i].content);
      continue;
    }
    lanes.push_back(i);
    contents.push_back(in[i].content);
    if (lanes.size() == core::kMd5MaxLanes) flush();
  }
  flush();
  return results;
}

core::Result<EncodedChunk> ChunkCodec::encode(uint64_t chunk, uint64_t gen,
                                              std::span<const std::byte> content,
                                              bool copy_raw) const {
  EncodedChunk out;
  if (!compress_ && !cipher_ && !content.empty()) {
    encode_raw_one_pass(content, out, copy_raw);
    out.body_is_content = !copy_raw;
    set_raw_metadata(out, content.size());
    return out;
  }
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
    uint64_t chunk, uint64_t gen, core::Object obj, std::optional<uint32_t> expected_crc) const {
  if (!expected_crc && !obj.info.etag.empty() && md5_hex_fast(obj.body) != obj.info.etag) {
    return mismatch();
  }
  const auto& md = obj.info.metadata;
  auto crc_it = md.find(kCrcKey);
  auto codec_it = md.find(kCodecKey);
  auto size_it = md.find(kSizeKey);
  if (crc_it == md.end() || codec_it == md.end() || size_it == md.end()) return mismatch();
  std::vector<std::byte> body = std::move(obj.body);
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
