#include "swift/md5.hpp"

#include <openssl/evp.h>

#include <new>

namespace swiftness::swift {

Md5::Md5() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_md5(), nullptr) != 1) throw std::bad_alloc();
}

Md5::~Md5() {
  EVP_MD_CTX_free(ctx_);
}

void Md5::update(std::span<const std::byte> data) {
  if (!data.empty()) EVP_DigestUpdate(ctx_, data.data(), data.size());
}

std::string Md5::final_hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, digest, &len);
  EVP_DigestInit_ex(ctx_, EVP_md5(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(len * 2, '0');
  for (unsigned i = 0; i < len; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return out;
}

std::string Md5::hex_of(std::span<const std::byte> data) {
  Md5 m;
  m.update(data);
  return m.final_hex();
}

}  // namespace swiftness::swift
