// On-disk and in-Swift encodings: journal records, local checkpoints, the Swift index and the
// LUN metadata object. Integers are big-endian (core/bytes.hpp); every unit ends or starts
// with a CRC32C so a torn or flipped byte is detected, never applied.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cache/state.hpp"

namespace swiftness::cache {

using Uuid = std::array<uint8_t, 16>;
std::string uuid_hex(const Uuid& u);
std::optional<Uuid> parse_uuid_hex(const std::string& s);

class ByteWriter {
 public:
  void u8(uint8_t v) { buf_.push_back(std::byte(v)); }
  void u32(uint32_t v);
  void u64(uint64_t v);
  void str(const std::string& s);
  void raw(std::span<const std::byte> b) { buf_.insert(buf_.end(), b.begin(), b.end()); }
  std::vector<std::byte>& buffer() { return buf_; }

 private:
  std::vector<std::byte> buf_;
};

class ByteReader {
 public:
  explicit ByteReader(std::span<const std::byte> b) : b_(b) {}
  uint8_t u8();
  uint32_t u32();
  uint64_t u64();
  std::string str();
  bool ok() const { return ok_; }
  size_t pos() const { return pos_; }
  size_t left() const { return ok_ ? b_.size() - pos_ : 0; }

 private:
  bool need(size_t n);
  std::span<const std::byte> b_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// ---- journal records ----
// Framing: u32 body length, u32 CRC32C of the body, body = u64 seq, u8 type, payload.
// Types 7 and 8 appear only in journals after a version 3 checkpoint, which older binaries
// refuse to open: they would stop replaying at the first unknown record and lose the rest.
enum class RecordType : uint8_t {
  write_v1 = 1,     // segments with pages; data_check over the written blocks (read only)
  fill = 2,         // clean blocks of object `ref`; data_check over them
  unmap = 3,        // segments without pages
  clean = 4,        // chunk, new object `ref`, cleaned-block bitmap, needed_index_seq
  garbage = 5,      // object `name` to delete once index seq >= needed_index_seq
  index_saved = 6,  // the Swift index with `index_seq` is saved
  write = 7,        // segments with pages; page_crcs: the CRC32C of each page, in run order
  data_synced = 8,  // the data of every record up to `data_synced` is on stable storage
};

struct Record {
  RecordType type = RecordType::write;
  uint64_t seq = 0;
  std::vector<Segment> segments;
  uint32_t data_check = 0;
  std::vector<uint32_t> page_crcs;
  uint64_t chunk = 0;
  ObjectRef ref;
  uint64_t needed_index_seq = 0;
  std::vector<uint64_t> cleaned;
  std::string name;
  uint64_t index_seq = 0;
  uint64_t data_synced = 0;
};

std::vector<std::byte> encode_record(const Record& r);
// Decodes the record at the start of `data`; nullopt when torn or corrupt (end of the log).
std::optional<Record> decode_record(std::span<const std::byte> data, size_t& consumed);

// The check stored with written data: CRC32C over the per-block CRC32Cs, so a subset of blocks
// can be checked without re-reading the others.
uint32_t combine_block_crcs(std::span<const uint32_t> crcs);

// ---- local checkpoint ----
struct CheckpointHeader {
  Uuid uuid{};
  uint32_t block_size = 0;
  uint32_t chunk_blocks = 0;
  uint64_t lun_blocks = 0;
  uint32_t pages = 0;
  uint64_t last_seq = 0;     // records up to here are in the checkpoint
  uint64_t journal_gen = 0;  // the journal file holding the records after last_seq
  // Parsed: 1 = written before page CRCs (nothing to verify against); 2 = its journal holds
  // write_v1 records and no data_synced ones; 3 = write and data_synced records.
  uint32_t version = 3;
};
std::vector<std::byte> encode_checkpoint(const CheckpointHeader& h, const CacheState& s);
std::optional<CheckpointHeader> parse_checkpoint_header(std::span<const std::byte> data);
bool load_checkpoint(std::span<const std::byte> data, CacheState& s);

// ---- Swift index (chunk -> current object) ----
struct IndexEntry {
  uint64_t chunk = 0;
  ObjectRef ref;
};
std::vector<std::byte> encode_index(const Uuid& uuid, uint64_t index_seq, uint64_t lun_blocks,
                                    std::span<const IndexEntry> entries);
std::optional<std::vector<IndexEntry>> decode_index(std::span<const std::byte> data,
                                                    const Uuid& uuid, uint64_t& index_seq);

// ---- LUN metadata object ----
struct LunMeta {
  uint32_t format_version = 1;
  Uuid uuid{};
  uint64_t size_bytes = 0;
  uint32_t block_size = 0;
  uint32_t chunk_size = 0;
  bool compression = false;
};
std::string encode_lun_meta(const LunMeta& m);
std::optional<LunMeta> decode_lun_meta(std::span<const std::byte> body);

}  // namespace swiftness::cache
