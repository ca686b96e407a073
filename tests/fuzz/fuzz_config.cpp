// The YAML configuration loader on arbitrary text. Checks: an accepted configuration has no
// errors, a rejected one names at least one, and every error carries a sane position.
#include <string>

#include "config/config.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using namespace swiftness;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string yaml(reinterpret_cast<const char*>(data), size);
  auto r = config::load_string(yaml, "fuzz.yaml");
  FUZZ_CHECK(r.config.has_value() == r.errors.empty());
  for (const auto& e : r.errors) {
    FUZZ_CHECK(e.line >= 0 && e.column >= 0);
    FUZZ_CHECK(!e.message.empty());
    (void)e.to_string();
  }
  return 0;
}
