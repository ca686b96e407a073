#include "target/iscsi/chap.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace swiftness::iscsi {

ChapDigest chap_response(uint8_t id, std::string_view secret,
                         const std::vector<uint8_t>& challenge) {
  ChapDigest out{};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned len = 0;
  EVP_DigestInit_ex(ctx, EVP_md5(), nullptr);
  EVP_DigestUpdate(ctx, &id, 1);
  EVP_DigestUpdate(ctx, secret.data(), secret.size());
  EVP_DigestUpdate(ctx, challenge.data(), challenge.size());
  EVP_DigestFinal_ex(ctx, out.data(), &len);
  EVP_MD_CTX_free(ctx);
  return out;
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::optional<std::vector<uint8_t>> decode_binary(std::string_view v) {
  if (v.size() < 3 || v[0] != '0') return std::nullopt;
  std::vector<uint8_t> out;
  if (v[1] == 'x' || v[1] == 'X') {
    v.remove_prefix(2);
    // An odd number of digits has an implied leading zero.
    size_t i = 0;
    if (v.size() % 2) {
      int lo = hex_value(v[0]);
      if (lo < 0) return std::nullopt;
      out.push_back(uint8_t(lo));
      i = 1;
    }
    for (; i < v.size(); i += 2) {
      int hi = hex_value(v[i]), lo = hex_value(v[i + 1]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(uint8_t(hi << 4 | lo));
    }
    return out;
  }
  if (v[1] == 'b' || v[1] == 'B') {
    v.remove_prefix(2);
    if (v.size() % 4) return std::nullopt;
    out.resize(v.size() / 4 * 3 + 3);
    int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(v.data()),
                            int(v.size()));
    if (n < 0) return std::nullopt;
    size_t pad = (v.ends_with("==") ? 2 : v.ends_with("=") ? 1 : 0);
    out.resize(size_t(n) - pad);
    return out;
  }
  return std::nullopt;
}

std::string encode_hex(const uint8_t* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s = "0x";
  for (size_t i = 0; i < n; ++i) {
    s.push_back(kDigits[p[i] >> 4]);
    s.push_back(kDigits[p[i] & 15]);
  }
  return s;
}

std::vector<uint8_t> random_bytes(size_t n) {
  std::vector<uint8_t> out(n);
  if (RAND_bytes(out.data(), int(n)) != 1) std::abort();  // no entropy: nothing safe to do
  return out;
}

bool equal_secret(const uint8_t* a, const uint8_t* b, size_t n) {
  return CRYPTO_memcmp(a, b, n) == 0;
}

}  // namespace swiftness::iscsi
