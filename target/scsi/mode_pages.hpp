// Mode pages as a table (SPC-4 7.5, SBC-3 6.4): each page has default values and a changeable
// mask; the current values live per logical unit. MODE SENSE and MODE SELECT use only this.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "target/scsi/sense.hpp"

namespace swiftness::scsi {

enum class PageControl : uint8_t { current = 0, changeable = 1, default_values = 2, saved = 3 };

struct ModePageDef {
  uint8_t code;
  uint8_t length;  // PAGE LENGTH (bytes after byte 1)
  std::array<uint8_t, 20> defaults;
  std::array<uint8_t, 20> changeable;
};

// The pages we implement, in ascending page-code order (01h, 08h, 0Ah, 1Ch).
std::span<const ModePageDef> mode_page_table();

class ModePages {
 public:
  explicit ModePages(bool write_cache);

  // The page bytes (including the two-byte header) for one page control.
  std::vector<uint8_t> page(const ModePageDef& def, PageControl pc) const;

  bool wce() const;
  bool d_sense() const;
  bool swp() const;

  // Applies a MODE SELECT parameter page (header included). Returns true if anything changed.
  // Errors: INVALID FIELD IN PARAMETER LIST for unknown pages, wrong lengths, or a change to a
  // bit that is not changeable.
  std::optional<SenseInfo> select(std::span<const uint8_t> page, size_t offset_in_list,
                                  bool& changed);

 private:
  std::array<std::array<uint8_t, 20>, 4> current_{};
};

}  // namespace swiftness::scsi
