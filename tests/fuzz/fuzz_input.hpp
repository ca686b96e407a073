// Reads a fuzzer's input as a sequence of fields; past the end every field reads as zero, so a
// target never has to check lengths before it takes a field.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

namespace swiftness::fuzz {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(data), left_(size) {}

  bool empty() const { return left_ == 0; }
  size_t left() const { return left_; }
  uint8_t u8() { return uint8_t(take_uint(1)); }
  uint16_t u16() { return uint16_t(take_uint(2)); }
  uint32_t u32() { return uint32_t(take_uint(4)); }
  // Up to `n` bytes (fewer at the end of the input).
  std::span<const uint8_t> bytes(size_t n) {
    n = std::min(n, left_);
    std::span<const uint8_t> out(p_, n);
    p_ += n;
    left_ -= n;
    return out;
  }
  std::span<const uint8_t> rest() { return bytes(left_); }

 private:
  uint64_t take_uint(size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i)
      v = v << 8 | (i < left_ ? p_[i] : 0);
    size_t used = std::min(n, left_);
    p_ += used;
    left_ -= used;
    return v;
  }
  const uint8_t* p_;
  size_t left_;
};

// A broken invariant: abort so libFuzzer records the input as a crash.
#define FUZZ_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      __builtin_printf("%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

}  // namespace swiftness::fuzz
