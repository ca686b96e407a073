// Test helper: builds initiator PDUs field by field, so tests read like RFC 7143 §11.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "core/crc32c.hpp"
#include "target/iscsi/pdu.hpp"
#include "target/iscsi/pdu_reader.hpp"
#include "target/iscsi/text.hpp"

namespace swiftness::iscsi::testing {

struct PduBuilder {
  Pdu pdu;

  explicit PduBuilder(Opcode op, bool immediate = false) { pdu.bhs.set_opcode(op, immediate); }
  PduBuilder& flags(uint8_t f) {
    pdu.bhs.set_flags(f);
    return *this;
  }
  PduBuilder& itt(uint32_t v) {
    pdu.bhs.set_itt(v);
    return *this;
  }
  PduBuilder& field32(size_t off, uint32_t v) {
    pdu.bhs.set_field32(off, v);
    return *this;
  }
  PduBuilder& byte(size_t off, uint8_t v) {
    pdu.bhs.b[off] = v;
    return *this;
  }
  PduBuilder& isid(const std::array<uint8_t, 6>& id) {
    std::memcpy(&pdu.bhs.b[8], id.data(), 6);
    return *this;
  }
  PduBuilder& key(const std::string& k, const std::string& v) {
    append_key(pdu.data, k, v);
    pdu.bhs.set_data_segment_length(uint32_t(pdu.data.size()));
    return *this;
  }
  PduBuilder& data(std::vector<std::byte> d) {
    pdu.data = std::move(d);
    pdu.bhs.set_data_segment_length(uint32_t(pdu.data.size()));
    return *this;
  }
  PduBuilder& ahs(std::vector<uint8_t> a) {
    pdu.ahs = std::move(a);
    pdu.bhs.b[4] = uint8_t(pdu.ahs.size() / 4);
    return *this;
  }
  Pdu build() const { return pdu; }

  // The wire bytes: BHS, AHS, header digest, data, padding, data digest.
  std::vector<uint8_t> wire(bool header_digest = false, bool data_digest = false) const {
    std::vector<uint8_t> out(pdu.bhs.b.begin(), pdu.bhs.b.end());
    out.insert(out.end(), pdu.ahs.begin(), pdu.ahs.end());
    if (header_digest) {
      uint32_t crc = core::crc32c(std::span<const uint8_t>(out));
      out.resize(out.size() + 4);
      store_digest(&out[out.size() - 4], crc);
    }
    if (!pdu.data.empty()) {
      size_t start = out.size();
      for (auto b : pdu.data)
        out.push_back(uint8_t(b));
      out.resize(out.size() + pad4(pdu.data.size()), 0);
      if (data_digest) {
        uint32_t crc =
            core::crc32c(std::span<const uint8_t>(out.data() + start, out.size() - start));
        out.resize(out.size() + 4);
        store_digest(&out[out.size() - 4], crc);
      }
    }
    return out;
  }
};

inline std::vector<KeyValue> keys_of(const Pdu& pdu) {
  auto kv = parse_text(pdu.data);
  return kv ? *kv : std::vector<KeyValue>{};
}
inline std::string value_of(const Pdu& pdu, const std::string& key) {
  for (auto& [k, v] : keys_of(pdu))
    if (k == key) return v;
  return "<absent>";
}

}  // namespace swiftness::iscsi::testing
