// Incremental MD5 (OpenSSL EVP), the form of Swift's ETag for non-manifest objects. Fed while a
// body streams in, so verifying a GET costs no second pass over memory.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string>

struct evp_md_ctx_st;

namespace swiftness::swift {

class Md5 {
 public:
  Md5();
  ~Md5();
  Md5(const Md5&) = delete;
  Md5& operator=(const Md5&) = delete;

  void update(std::span<const std::byte> data);
  // Lower-case hex of the digest; the object is then reset for reuse.
  std::string final_hex();

  static std::string hex_of(std::span<const std::byte> data);

 private:
  evp_md_ctx_st* ctx_;
};

}  // namespace swiftness::swift
