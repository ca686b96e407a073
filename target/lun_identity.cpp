#include "target/lun_identity.hpp"

#include <openssl/rand.h>

#include <filesystem>
#include <fstream>

namespace swiftness::target {
namespace {
// A locally administered company id (the U/L bit of the first octet set), "02:53:57", so the
// designator cannot collide with a registered vendor's.
constexpr uint32_t kCompanyId = 0x025357;
}  // namespace

LunIdentity identity_from_bytes(const std::array<uint8_t, 16>& id) {
  LunIdentity out;
  // NAA(4) | IEEE company id(24) | vendor specific id(36) | vendor specific extension(64).
  out.naa[0] = uint8_t(0x60 | (kCompanyId >> 20));
  out.naa[1] = uint8_t(kCompanyId >> 12);
  out.naa[2] = uint8_t(kCompanyId >> 4);
  out.naa[3] = uint8_t((kCompanyId & 0xf) << 4 | (id[0] & 0x0f));
  for (int i = 4; i < 16; ++i)
    out.naa[i] = id[i - 3];
  static constexpr char kHex[] = "0123456789abcdef";
  for (uint8_t b : id) {
    out.serial.push_back(kHex[b >> 4]);
    out.serial.push_back(kHex[b & 15]);
  }
  return out;
}

core::Result<LunIdentity> load_or_create_identity(const std::string& state_dir,
                                                  const std::string& name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir = fs::path(state_dir) / "luns";
  fs::create_directories(dir, ec);
  if (ec) return ec;
  fs::path file = dir / (name + ".id");
  std::array<uint8_t, 16> id{};
  {
    std::ifstream in(file, std::ios::binary);
    if (in.read(reinterpret_cast<char*>(id.data()), id.size())) return identity_from_bytes(id);
  }
  if (RAND_bytes(id.data(), int(id.size())) != 1) return std::make_error_code(std::errc::io_error);
  fs::path tmp = file;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(id.data()), id.size());
    out.flush();
    if (!out) return std::make_error_code(std::errc::io_error);
  }
  fs::rename(tmp, file, ec);
  if (ec) return ec;
  return identity_from_bytes(id);
}

}  // namespace swiftness::target
