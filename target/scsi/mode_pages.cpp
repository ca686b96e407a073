#include "target/scsi/mode_pages.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace swiftness::scsi {

namespace {

// Byte maps are of the page body from byte 2 (the bytes after PAGE CODE and PAGE LENGTH).
constexpr ModePageDef kPages[] = {
    // 01h Read-Write Error Recovery (SBC-3 6.4.9), length 0Ah: nothing changeable.
    // byte 2: AWRE(7) ARRE(6) TB(5) RC(4) EER(3) PER(2) DTE(1) DCR(0).
    {0x01, 0x0a, {0xc0}, {}},
    // 08h Caching (SBC-3 6.4.5), length 12h. byte 2: IC(7) ABPF(6) CAP(5) DISC(4) SIZE(3)
    // WCE(2) MF(1) RCD(0). WCE is changeable (Windows toggles it with MODE SELECT(6)).
    {0x08, 0x12, {0x04}, {0x04}},
    // 0Ah Control (SPC-4 7.5.8), length 0Ah. byte 2: TST(7-5) TMF_ONLY(4) DPICZ(3) D_SENSE(2)
    // GLTSD(1) RLEC(0); byte 3: QUEUE ALGORITHM MODIFIER(7-4) NUAR(3) QERR(2-1); byte 4: VS(7)
    // RAC(6) UA_INTLCK_CTRL(5-4) SWP(3); byte 5: ATO(7) TAS(6) ATMPE(5) RWWP(4) AUTOLOAD(2-0);
    // bytes 8-9 BUSY TIMEOUT PERIOD (FFFFh = unlimited). D_SENSE and SWP are changeable; QERR
    // stays 0 (Windows forces it to 0 on thin LUNs). QAM 1: unrestricted reordering allowed.
    {0x0a, 0x0a, {0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff}, {0x04, 0x00, 0x08}},
    // 1Ch Informational Exceptions Control (SPC-4 7.5.11), length 0Ah. byte 2: PERF(7) EBF(5)
    // EWASC(4) DEXCPT(3) TEST(2) LOGERR(0); byte 3: MRIE(3-0). We report no exceptions; DEXCPT
    // and MRIE may be changed (disk.sys sets them) but nothing is ever reported.
    {0x1c, 0x0a, {0x08, 0x00}, {0x08, 0x0f}},
};

}  // namespace

std::span<const ModePageDef> mode_page_table() {
  return kPages;
}

ModePages::ModePages(bool write_cache, bool saveable) : saveable_(saveable) {
  for (size_t i = 0; i < std::size(kPages); ++i)
    current_[i] = kPages[i].defaults;
  if (!write_cache) current_[1][0] &= uint8_t(~0x04);
  saved_ = current_;
}

std::string ModePages::serialize_saved() const {
  std::string out;
  char hex[3];
  for (size_t i = 0; i < std::size(kPages); ++i) {
    std::snprintf(hex, sizeof hex, "%02x", kPages[i].code);
    out += hex;
    out += ' ';
    for (size_t b = 0; b < kPages[i].length && b < saved_[i].size(); ++b) {
      std::snprintf(hex, sizeof hex, "%02x", saved_[i][b]);
      out += hex;
    }
    out += '\n';
  }
  return out;
}

bool ModePages::restore_saved(const std::string& text) {
  auto next = saved_;
  std::istringstream in(text);
  std::string code_hex, body_hex;
  while (in >> code_hex >> body_hex) {
    unsigned code = 0;
    if (std::sscanf(code_hex.c_str(), "%2x", &code) != 1) return false;
    size_t i = 0;
    while (i < std::size(kPages) && kPages[i].code != code)
      ++i;
    if (i == std::size(kPages)) continue;  // a page this version no longer has
    if (body_hex.size() % 2 != 0) return false;
    const ModePageDef& def = kPages[i];
    for (size_t b = 0; b < def.length && b < next[i].size() && 2 * b < body_hex.size(); ++b) {
      unsigned v = 0;
      if (std::sscanf(body_hex.c_str() + 2 * b, "%2x", &v) != 1) return false;
      next[i][b] = uint8_t((def.defaults[b] & ~def.changeable[b]) | (v & def.changeable[b]));
    }
  }
  if (!in.eof()) return false;
  saved_ = next;
  current_ = next;
  return true;
}

std::vector<uint8_t> ModePages::page(const ModePageDef& def, PageControl pc) const {
  const size_t i = size_t(&def - kPages);
  const auto& body = pc == PageControl::changeable       ? def.changeable
                     : pc == PageControl::default_values ? def.defaults
                     : pc == PageControl::saved          ? saved_[i]
                                                         : current_[i];
  std::vector<uint8_t> out(2 + def.length, 0);
  out[0] = uint8_t(def.code | (saveable_ ? 0x80 : 0));  // PS(7)
  out[1] = def.length;
  std::copy_n(body.begin(), std::min<size_t>(def.length, body.size()), out.begin() + 2);
  return out;
}

bool ModePages::wce() const {
  return current_[1][0] & 0x04;
}
bool ModePages::d_sense() const {
  return current_[2][0] & 0x04;
}
bool ModePages::swp() const {
  return current_[2][2] & 0x08;
}

std::optional<SenseInfo> ModePages::select(std::span<const uint8_t> p, size_t offset,
                                           bool& changed) {
  auto bad = [&](size_t byte) {
    return SenseInfo{SenseReason::invalid_field_in_parameter_list, std::nullopt,
                     FieldPointer{false, uint16_t(offset + byte), -1}};
  };
  if (p.size() < 2) return SenseInfo{SenseReason::parameter_list_length_error};
  // byte 0: PS(7, reserved in MODE SELECT) SPF(6) PAGE CODE(5-0). No subpages implemented.
  if (p[0] & 0x40) return bad(0);
  const uint8_t code = p[0] & 0x3f;
  size_t i = 0;
  while (i < std::size(kPages) && kPages[i].code != code)
    ++i;
  if (i == std::size(kPages)) return bad(0);
  const ModePageDef& def = kPages[i];
  if (p[1] != def.length) return bad(1);
  if (p.size() < size_t(2 + def.length)) return SenseInfo{SenseReason::parameter_list_length_error};
  auto next = current_[i];
  for (size_t b = 0; b < def.length && b < next.size(); ++b) {
    const uint8_t v = p[2 + b];
    // SPC-4 6.11: a value different from the current one in a bit that is not changeable is an
    // INVALID FIELD IN PARAMETER LIST.
    if ((v ^ current_[i][b]) & ~def.changeable[b]) return bad(2 + b);
    next[b] = v;
  }
  if (next != current_[i]) {
    current_[i] = next;
    changed = true;
  }
  return std::nullopt;
}

}  // namespace swiftness::scsi
