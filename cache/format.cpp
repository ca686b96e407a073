#include "cache/format.hpp"

#include <cstring>
#include <map>
#include <sstream>

#include "core/bytes.hpp"
#include "core/crc32c.hpp"

namespace swiftness::cache {

namespace {
constexpr uint32_t kMaxRecord = 64u << 20;
// Version 02 adds the CRC32C of every cached page (issue 8). A version 01 checkpoint still
// loads; its pages have no CRC until CachedLun adopts one at open. Version 03 has the layout of
// 02; it says the journal after it holds the record types 7 and 8, which a binary that knows
// only 02 must not meet (it refuses the checkpoint instead).
constexpr char kCheckpointMagic[8] = {'S', 'W', 'C', 'K', 'P', 'T', '0', '3'};
constexpr char kCheckpointMagicV2[8] = {'S', 'W', 'C', 'K', 'P', 'T', '0', '2'};
constexpr char kCheckpointMagicV1[8] = {'S', 'W', 'C', 'K', 'P', 'T', '0', '1'};

bool checkpoint_magic(std::span<const std::byte> data, int& version) {
  if (data.size() < 12) return false;
  if (std::memcmp(data.data(), kCheckpointMagic, 8) == 0) {
    version = 3;
  } else if (std::memcmp(data.data(), kCheckpointMagicV2, 8) == 0) {
    version = 2;
  } else if (std::memcmp(data.data(), kCheckpointMagicV1, 8) == 0) {
    version = 1;
  } else {
    return false;
  }
  return true;
}
constexpr char kIndexMagic[8] = {'S', 'W', 'I', 'N', 'D', 'X', '0', '1'};
}  // namespace

std::string uuid_hex(const Uuid& u) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (uint8_t b : u) {
    s += kHex[b >> 4];
    s += kHex[b & 15];
  }
  return s;
}

std::optional<Uuid> parse_uuid_hex(const std::string& s) {
  if (s.size() != 32) return std::nullopt;
  Uuid u{};
  for (size_t i = 0; i < 16; ++i) {
    auto nib = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    int hi = nib(s[2 * i]), lo = nib(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    u[i] = uint8_t(hi << 4 | lo);
  }
  return u;
}

void ByteWriter::u32(uint32_t v) {
  uint8_t b[4];
  core::store_be32(b, v);
  raw(std::as_bytes(std::span(b)));
}
void ByteWriter::u64(uint64_t v) {
  uint8_t b[8];
  core::store_be64(b, v);
  raw(std::as_bytes(std::span(b)));
}
void ByteWriter::str(const std::string& s) {
  u32(uint32_t(s.size()));
  raw(std::as_bytes(std::span(s.data(), s.size())));
}

bool ByteReader::need(size_t n) {
  if (!ok_ || b_.size() - pos_ < n) ok_ = false;
  return ok_;
}
uint8_t ByteReader::u8() {
  if (!need(1)) return 0;
  return uint8_t(b_[pos_++]);
}
uint32_t ByteReader::u32() {
  if (!need(4)) return 0;
  uint32_t v = core::load_be32(reinterpret_cast<const uint8_t*>(b_.data() + pos_));
  pos_ += 4;
  return v;
}
uint64_t ByteReader::u64() {
  if (!need(8)) return 0;
  uint64_t v = core::load_be64(reinterpret_cast<const uint8_t*>(b_.data() + pos_));
  pos_ += 8;
  return v;
}
std::string ByteReader::str() {
  uint32_t n = u32();
  if (!need(n)) return {};
  std::string s(reinterpret_cast<const char*>(b_.data() + pos_), n);
  pos_ += n;
  return s;
}

uint32_t combine_block_crcs(std::span<const uint32_t> crcs) {
  uint32_t c = 0;
  for (uint32_t v : crcs) {
    uint8_t b[4];
    core::store_be32(b, v);
    c = core::crc32c(std::span<const uint8_t>(b, 4), c);
  }
  return c;
}

namespace {

void put_segments(ByteWriter& w, const std::vector<Segment>& segs, bool with_runs) {
  w.u32(uint32_t(segs.size()));
  for (const Segment& s : segs) {
    w.u64(s.chunk);
    w.u32(s.first);
    w.u32(s.count);
    if (!with_runs) continue;
    w.u32(uint32_t(s.runs.size()));
    for (const PageRun& r : s.runs) {
      w.u32(r.page);
      w.u32(r.count);
    }
  }
}

bool get_segments(ByteReader& r, std::vector<Segment>& segs, bool with_runs) {
  uint32_t n = r.u32();
  if (!r.ok() || n > r.left()) return false;
  segs.resize(n);
  for (Segment& s : segs) {
    s.chunk = r.u64();
    s.first = r.u32();
    s.count = r.u32();
    if (!with_runs) continue;
    uint32_t nr = r.u32();
    if (!r.ok() || nr > r.left()) return false;
    s.runs.resize(nr);
    uint64_t total = 0;
    for (PageRun& pr : s.runs) {
      pr.page = r.u32();
      pr.count = r.u32();
      total += pr.count;
    }
    if (total != s.count) return false;
  }
  return r.ok();
}

void put_ref(ByteWriter& w, const ObjectRef& ref) {
  w.u32(ref.epoch);
  w.u64(ref.gen);
  w.u32(ref.crc);
}
ObjectRef get_ref(ByteReader& r) {
  ObjectRef ref;
  ref.epoch = r.u32();
  ref.gen = r.u64();
  ref.crc = r.u32();
  return ref;
}

}  // namespace

std::vector<std::byte> encode_record(const Record& rec) {
  ByteWriter w;
  w.u32(0);  // length, patched below
  w.u32(0);  // crc, patched below
  w.u64(rec.seq);
  w.u8(uint8_t(rec.type));
  switch (rec.type) {
    case RecordType::write_v1:
      put_segments(w, rec.segments, true);
      w.u32(rec.data_check);
      break;
    case RecordType::write:
      put_segments(w, rec.segments, true);
      for (uint32_t c : rec.page_crcs)
        w.u32(c);
      break;
    case RecordType::fill:
      put_ref(w, rec.ref);
      put_segments(w, rec.segments, true);
      w.u32(rec.data_check);
      break;
    case RecordType::unmap:
      w.u64(rec.needed_index_seq);
      put_segments(w, rec.segments, false);
      break;
    case RecordType::clean:
      w.u64(rec.chunk);
      put_ref(w, rec.ref);
      w.u64(rec.needed_index_seq);
      w.u32(uint32_t(rec.cleaned.size()));
      for (uint64_t v : rec.cleaned)
        w.u64(v);
      break;
    case RecordType::garbage:
      w.str(rec.name);
      w.u64(rec.needed_index_seq);
      break;
    case RecordType::index_saved:
      w.u64(rec.index_seq);
      break;
    case RecordType::data_synced:
      w.u64(rec.data_synced);
      break;
  }
  auto& b = w.buffer();
  uint32_t len = uint32_t(b.size() - 8);
  uint32_t crc = core::crc32c(std::span<const std::byte>(b.data() + 8, len));
  core::store_be32(reinterpret_cast<uint8_t*>(b.data()), len);
  core::store_be32(reinterpret_cast<uint8_t*>(b.data()) + 4, crc);
  return std::move(b);
}

std::optional<Record> decode_record(std::span<const std::byte> data, size_t& consumed) {
  if (data.size() < 8) return std::nullopt;
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  uint32_t len = core::load_be32(p);
  uint32_t crc = core::load_be32(p + 4);
  if (len < 9 || len > kMaxRecord || len > data.size() - 8) return std::nullopt;
  auto body = data.subspan(8, len);
  if (core::crc32c(body) != crc) return std::nullopt;
  ByteReader r(body);
  Record rec;
  rec.seq = r.u64();
  rec.type = RecordType(r.u8());
  bool ok = true;
  switch (rec.type) {
    case RecordType::write_v1:
      ok = get_segments(r, rec.segments, true);
      rec.data_check = r.u32();
      break;
    case RecordType::write: {
      ok = get_segments(r, rec.segments, true);
      uint64_t n = 0;
      for (const Segment& s : rec.segments)
        n += s.count;
      if (!ok || n > r.left() / 4) return std::nullopt;
      rec.page_crcs.resize(n);
      for (uint32_t& c : rec.page_crcs)
        c = r.u32();
      break;
    }
    case RecordType::fill:
      rec.ref = get_ref(r);
      ok = get_segments(r, rec.segments, true);
      rec.data_check = r.u32();
      break;
    case RecordType::unmap:
      rec.needed_index_seq = r.u64();
      ok = get_segments(r, rec.segments, false);
      break;
    case RecordType::clean: {
      rec.chunk = r.u64();
      rec.ref = get_ref(r);
      rec.needed_index_seq = r.u64();
      uint32_t n = r.u32();
      if (!r.ok() || n > r.left()) return std::nullopt;
      rec.cleaned.resize(n);
      for (auto& v : rec.cleaned)
        v = r.u64();
      break;
    }
    case RecordType::garbage:
      rec.name = r.str();
      rec.needed_index_seq = r.u64();
      break;
    case RecordType::index_saved:
      rec.index_seq = r.u64();
      break;
    case RecordType::data_synced:
      rec.data_synced = r.u64();
      break;
    default:
      return std::nullopt;
  }
  if (!ok || !r.ok()) return std::nullopt;
  consumed = 8 + len;
  return rec;
}

// Checkpoint layout: magic(8) u32 crc-of-rest, then header fields, then the state:
// next_gen, index_seq, chunks (id, ref, entry count, runs of {first value, count, dirty} and,
// for a run of pages, u8 crcs-known and then one CRC32C per page if known), garbage (name,
// needed).
std::vector<std::byte> encode_checkpoint(const CheckpointHeader& h, const CacheState& s) {
  ByteWriter w;
  w.raw(std::as_bytes(std::span(kCheckpointMagic)));
  w.u32(0);
  w.raw(std::as_bytes(std::span(h.uuid)));
  w.u32(h.block_size);
  w.u32(h.chunk_blocks);
  w.u64(h.lun_blocks);
  w.u32(h.pages);
  w.u64(h.last_seq);
  w.u64(h.journal_gen);
  w.u64(s.next_gen);
  w.u64(s.index_seq);
  w.u64(s.chunks.size());
  for (const auto& [id, c] : s.chunks) {
    w.u64(id);
    put_ref(w, c.object);
    w.u32(uint32_t(c.entries.size()));
    // Runs: consecutive pages, or a repeated sentinel, with one dirty state.
    uint32_t b = 0;
    std::vector<std::tuple<uint32_t, uint32_t, uint8_t>> runs;
    while (b < c.entries.size()) {
      uint32_t v = c.entries[b];
      bool d = c.is_dirty(b);
      bool known = is_page(v) && s.page_crc_known(v);
      uint32_t n = 1;
      while (b + n < c.entries.size() && c.is_dirty(b + n) == d &&
             c.entries[b + n] == (is_page(v) ? v + n : v) &&
             (!is_page(v) || s.page_crc_known(v + n) == known)) {
        ++n;
      }
      runs.emplace_back(v, n, uint8_t(d));
      b += n;
    }
    w.u32(uint32_t(runs.size()));
    for (auto& [v, n, d] : runs) {
      w.u32(v);
      w.u32(n);
      w.u8(d);
      if (!is_page(v)) continue;
      const bool known = s.page_crc_known(v);
      w.u8(uint8_t(known));
      for (uint32_t j = 0; known && j < n; ++j)
        w.u32(s.page_crc(v + j));
    }
  }
  w.u64(s.garbage.size());
  for (const Garbage& g : s.garbage) {
    w.str(g.name);
    w.u64(g.needed_index_seq);
  }
  auto& buf = w.buffer();
  uint32_t crc = core::crc32c(std::span<const std::byte>(buf.data() + 12, buf.size() - 12));
  core::store_be32(reinterpret_cast<uint8_t*>(buf.data()) + 8, crc);
  return std::move(buf);
}

std::optional<CheckpointHeader> parse_checkpoint_header(std::span<const std::byte> data) {
  int version = 0;
  if (!checkpoint_magic(data, version)) return std::nullopt;
  uint32_t crc = core::load_be32(reinterpret_cast<const uint8_t*>(data.data()) + 8);
  if (core::crc32c(data.subspan(12)) != crc) return std::nullopt;
  ByteReader r(data.subspan(12));
  CheckpointHeader h;
  for (auto& b : h.uuid)
    b = r.u8();
  h.block_size = r.u32();
  h.chunk_blocks = r.u32();
  h.lun_blocks = r.u64();
  h.pages = r.u32();
  h.last_seq = r.u64();
  h.journal_gen = r.u64();
  h.version = uint32_t(version);
  if (!r.ok()) return std::nullopt;
  return h;
}

bool load_checkpoint(std::span<const std::byte> data, CacheState& s) {
  int version = 0;
  if (!checkpoint_magic(data, version)) return false;
  ByteReader r(data.subspan(12));
  for (int i = 0; i < 16; ++i)
    r.u8();
  r.u32();
  r.u32();
  r.u64();
  r.u32();
  r.u64();
  r.u64();
  s.next_gen = r.u64();
  s.index_seq = r.u64();
  uint64_t nchunks = r.u64();
  if (!r.ok() || nchunks > r.left()) return false;
  for (uint64_t i = 0; i < nchunks; ++i) {
    uint64_t id = r.u64();
    ChunkState& c = s.chunk(id);
    c.object = get_ref(r);
    uint32_t n = r.u32();
    uint32_t nruns = r.u32();
    if (!r.ok() || n > s.chunk_blocks() || nruns > r.left()) return false;
    c.entries.assign(n, kNoPage);
    c.dirty.assign((n + 63) / 64, 0);
    uint32_t b = 0;
    for (uint32_t k = 0; k < nruns; ++k) {
      uint32_t v = r.u32(), cnt = r.u32();
      uint8_t d = r.u8();
      const bool known = version >= 2 && is_page(v) && r.u8() != 0;
      if (!r.ok() || uint64_t(b) + cnt > n) return false;
      if (is_page(v) && uint64_t(v) + cnt > s.page_total()) return false;
      for (uint32_t j = 0; j < cnt; ++j, ++b) {
        uint32_t e = is_page(v) ? v + j : v;
        c.entries[b] = e;
        if (d) c.dirty[b / 64] |= 1ull << (b % 64);
        if (known) s.set_page_crc(e, r.u32());
      }
    }
  }
  uint64_t ng = r.u64();
  if (!r.ok() || ng > r.left()) return false;
  for (uint64_t i = 0; i < ng; ++i) {
    Garbage g;
    g.name = r.str();
    g.needed_index_seq = r.u64();
    s.garbage.push_back(std::move(g));
  }
  if (!r.ok()) return false;
  s.rebuild_free_map();
  return true;
}

std::vector<std::byte> encode_index(const Uuid& uuid, uint64_t index_seq, uint64_t lun_blocks,
                                    std::span<const IndexEntry> entries) {
  ByteWriter w;
  w.raw(std::as_bytes(std::span(kIndexMagic)));
  w.raw(std::as_bytes(std::span(uuid)));
  w.u64(index_seq);
  w.u64(lun_blocks);
  w.u64(entries.size());
  for (const IndexEntry& e : entries) {
    w.u64(e.chunk);
    put_ref(w, e.ref);
  }
  w.u32(core::crc32c(std::span<const std::byte>(w.buffer())));
  return std::move(w.buffer());
}

std::optional<std::vector<IndexEntry>> decode_index(std::span<const std::byte> data,
                                                    const Uuid& uuid, uint64_t& index_seq) {
  if (data.size() < 8 + 16 + 24 + 4 || std::memcmp(data.data(), kIndexMagic, 8) != 0) {
    return std::nullopt;
  }
  uint32_t crc = core::load_be32(reinterpret_cast<const uint8_t*>(data.data()) + data.size() - 4);
  if (core::crc32c(data.first(data.size() - 4)) != crc) return std::nullopt;
  if (std::memcmp(data.data() + 8, uuid.data(), 16) != 0) return std::nullopt;
  ByteReader r(data.subspan(24, data.size() - 28));
  index_seq = r.u64();
  r.u64();
  uint64_t n = r.u64();
  if (!r.ok() || n > r.left()) return std::nullopt;
  std::vector<IndexEntry> out(n);
  for (IndexEntry& e : out) {
    e.chunk = r.u64();
    e.ref = get_ref(r);
  }
  if (!r.ok()) return std::nullopt;
  return out;
}

std::string encode_lun_meta(const LunMeta& m) {
  std::ostringstream o;
  o << "format_version=" << m.format_version << "\n"
    << "uuid=" << uuid_hex(m.uuid) << "\n"
    << "size=" << m.size_bytes << "\n"
    << "block_size=" << m.block_size << "\n"
    << "chunk_size=" << m.chunk_size << "\n"
    << "compression=" << (m.compression ? "zstd" : "none") << "\n";
  return o.str();
}

std::optional<LunMeta> decode_lun_meta(std::span<const std::byte> body) {
  std::string text(reinterpret_cast<const char*>(body.data()), body.size());
  std::map<std::string, std::string> kv;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  try {
    LunMeta m;
    m.format_version = uint32_t(std::stoul(kv.at("format_version")));
    auto u = parse_uuid_hex(kv.at("uuid"));
    if (!u) return std::nullopt;
    m.uuid = *u;
    m.size_bytes = std::stoull(kv.at("size"));
    m.block_size = uint32_t(std::stoul(kv.at("block_size")));
    m.chunk_size = uint32_t(std::stoul(kv.at("chunk_size")));
    m.compression = kv.at("compression") == "zstd";
    return m;
  } catch (const std::exception&) {  // missing key or not a number: not our object
    return std::nullopt;
  }
}

}  // namespace swiftness::cache
