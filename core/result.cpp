#include "core/result.hpp"

#include <string>

namespace swiftness::core {
namespace {

class BlockCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "block"; }
  std::string message(int v) const override {
    switch (static_cast<block_errc>(v)) {
      case block_errc::medium_error: return "medium error";
      case block_errc::no_space: return "no space left in cache or backing store";
      case block_errc::unavailable: return "backend unavailable";
      case block_errc::busy: return "busy";
      case block_errc::out_of_range: return "LBA out of range";
      case block_errc::write_protected: return "write protected";
      case block_errc::io_error: return "I/O error";
      case block_errc::aborted: return "aborted";
    }
    return "block error " + std::to_string(v);
  }
};

class ObjectCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "object"; }
  std::string message(int v) const override {
    switch (static_cast<object_errc>(v)) {
      case object_errc::connection_failed: return "connection failed";
      case object_errc::timeout: return "request timed out";
      case object_errc::checksum_mismatch: return "checksum mismatch";
      case object_errc::bad_response: return "malformed response";
      case object_errc::auth_failed: return "authentication failed";
      case object_errc::tls_error: return "TLS error";
      default: break;
    }
    return v < 1000 ? "HTTP " + std::to_string(v) : "object error " + std::to_string(v);
  }
};

}  // namespace

const std::error_category& block_category() noexcept {
  static const BlockCategory c;
  return c;
}
const std::error_category& object_category() noexcept {
  static const ObjectCategory c;
  return c;
}

}  // namespace swiftness::core
