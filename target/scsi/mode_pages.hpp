// Mode pages as a table (SPC-4 7.5, SBC-3 6.4): each page has default values and a changeable
// mask; the current values live per logical unit. MODE SENSE and MODE SELECT use only this.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
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
  // `saveable`: the logical unit has somewhere to keep saved values (a state directory), so
  // pages report PS=1 and MODE SELECT with SP=1 is accepted.
  explicit ModePages(bool write_cache, bool saveable = false);

  bool saveable() const { return saveable_; }
  // SPC-4 6.11 SP=1: every saveable page's current values become its saved values.
  void save() { saved_ = current_; }
  // Saved values as text (one line per page: page code, then the page body, in hex) and back.
  // Restoring takes only changeable bits from the text (the rest comes from the defaults, so a
  // newer page table never inherits stale fixed bits) and makes them the current values too,
  // as a power cycle would. False if the text is unreadable (then nothing changes).
  std::string serialize_saved() const;
  bool restore_saved(const std::string& text);

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
  bool saveable_;
  std::array<std::array<uint8_t, 20>, 4> current_{};
  std::array<std::array<uint8_t, 20>, 4> saved_{};
};

}  // namespace swiftness::scsi
