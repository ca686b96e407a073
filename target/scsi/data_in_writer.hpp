// Bounded response writer (design.md §3): handlers lay out the full response at its natural
// offsets; bytes beyond ALLOCATION LENGTH or the transport's buffer are dropped, but the full
// length is remembered so the residual is right. SPC-4 4.2.5.6: a response truncated at
// ALLOCATION LENGTH is not an error.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace swiftness::scsi {

class DataInWriter {
 public:
  DataInWriter(std::span<std::byte> out, uint32_t allocation_length)
      : out_(out),
        limit_(std::min<size_t>(out.size(), allocation_length)),
        allocation_length_(allocation_length) {
    // A data-in command with EDTL 0 comes with no buffer at all (a null span): memset on a
    // null pointer is undefined even for 0 bytes (found by tests/fuzz/fuzz_scsi).
    if (limit_) std::memset(out_.data(), 0, limit_);
  }

  void u8(size_t off, uint8_t v) {
    extend(off + 1);
    if (off < limit_) out_[off] = std::byte(v);
  }
  void u16(size_t off, uint16_t v) { put_be(off, v, 2); }
  void u24(size_t off, uint32_t v) { put_be(off, v, 3); }
  void u32(size_t off, uint32_t v) { put_be(off, v, 4); }
  void u64(size_t off, uint64_t v) { put_be(off, v, 8); }
  void bytes(size_t off, const void* p, size_t n) {
    extend(off + n);
    if (off < limit_) std::memcpy(out_.data() + off, p, std::min(n, limit_ - off));
  }
  // Left-aligned ASCII padded with spaces to `width` (SPC-4 4.4.1).
  void ascii(size_t off, std::string_view s, size_t width) {
    for (size_t i = 0; i < width; ++i)
      u8(off + i, i < s.size() ? uint8_t(s[i]) : ' ');
  }
  void set_bits(size_t off, uint8_t mask) {
    extend(off + 1);
    if (off < limit_) out_[off] |= std::byte(mask);
  }
  void extend(size_t len) { length_ = std::max(length_, len); }

  size_t length() const { return length_; }   // the whole response, untruncated
  size_t capacity() const { return limit_; }  // bytes that can actually be transferred
  // What the command transfers: the response cut at ALLOCATION LENGTH.
  uint32_t transfer_length() const {
    return uint32_t(std::min<size_t>(length_, allocation_length_));
  }
  uint32_t written() const { return uint32_t(std::min(length_, limit_)); }

 private:
  void put_be(size_t off, uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i, v >>= 8)
      u8(off + size_t(i), uint8_t(v));
  }

  std::span<std::byte> out_;
  size_t limit_;
  size_t allocation_length_;
  size_t length_ = 0;
};

}  // namespace swiftness::scsi
