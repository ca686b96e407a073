// Edits of the YAML configuration that keep the administrator's comments and layout: a new LUN
// is inserted as a block after the last entry of `luns:`, a size is replaced where it stands. The
// result is validated with the real loader before it replaces the file (atomically, same mode).
#pragma once

#include <cstdint>
#include <string>

#include "core/result.hpp"

namespace swiftness::target {

struct NewLun {
  std::string name;
  std::string size;  // as written: "10GiB"
  std::string container;
  std::string block_size;
  std::string chunk_size;
  std::string storage_policy;
};

// The edited text, or a message saying why not (in `error`).
struct EditResult {
  std::string text;
  std::string error;
};

EditResult add_lun(const std::string& yaml, const std::string& file, const NewLun& lun);
EditResult set_lun_size(const std::string& yaml, const std::string& file, const std::string& name,
                        const std::string& size);

// Writes `text` to `path` via a temporary file in the same directory, fsync, rename; keeps the
// file's permission bits.
core::Result<void> replace_file(const std::string& path, const std::string& text);

}  // namespace swiftness::target
