#include "target/iscsi/pdu_reader.hpp"

#include <algorithm>
#include <cstring>

#include "core/crc32c.hpp"

namespace swiftness::iscsi {

uint32_t load_digest(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
void store_digest(uint8_t* p, uint32_t crc) {
  p[0] = uint8_t(crc);
  p[1] = uint8_t(crc >> 8);
  p[2] = uint8_t(crc >> 16);
  p[3] = uint8_t(crc >> 24);
}

size_t PduReader::need() const {
  switch (stage_) {
    case Stage::header:
      return kBhsLength;
    case Stage::ahs:
      return pdu_.ahs.size();
    case Stage::header_digest:
      return 4;
    case Stage::data:
      return data_length_ + pad4(data_length_);
    case Stage::data_digest:
      return 4;
    case Stage::done:
      return 0;
  }
  return 0;
}

PduReader::Step PduReader::feed(std::span<const uint8_t> in) {
  Step step;
  while (stage_ != Stage::done) {
    if (stage_ == Stage::data && announce_ && !announced_ && have_ == 0 &&
        pdu_.bhs.opcode() == Opcode::data_out) {
      announced_ = true;
      step.kind = Step::Kind::header;
      return step;
    }
    // Not steered: the payload goes to the PDU's own vector after all.
    if (stage_ == Stage::data && have_ == 0 && steer_.empty() && pdu_.data.size() != data_length_)
      pdu_.data.resize(data_length_);
    size_t want = need();
    if (have_ < want) {
      if (step.consumed == in.size()) return step;
      size_t n = std::min(want - have_, in.size() - step.consumed);
      const uint8_t* src = in.data() + step.consumed;
      switch (stage_) {
        case Stage::header:
          std::memcpy(pdu_.bhs.b.data() + have_, src, n);
          break;
        case Stage::ahs:
          std::memcpy(pdu_.ahs.data() + have_, src, n);
          break;
        case Stage::header_digest:
        case Stage::data_digest:
          std::memcpy(digest_.data() + have_, src, n);
          break;
        case Stage::data: {
          // The vector holds the segment without its padding, but the data digest covers the
          // padded segment (RFC 7143 §11.1).
          size_t seg = data_length_;
          size_t copy = have_ < seg ? std::min(n, seg - have_) : 0;
          std::byte* dst = steer_.empty() ? pdu_.data.data() : steer_.data();
          if (copy) std::memcpy(dst + have_, src, copy);
          if (active_.data_digest)
            data_crc_ = core::crc32c(std::span<const uint8_t>(src, n), data_crc_);
          break;
        }
        case Stage::done:
          break;
      }
      have_ += n;
      step.consumed += n;
      if (have_ < want) return step;
    }
    if (auto err = advance()) {
      step.kind = Step::Kind::error;
      step.error = *err;
      return step;
    }
  }
  step.kind = Step::Kind::pdu;
  return step;
}

std::optional<ProtocolError> PduReader::advance() {
  have_ = 0;
  switch (stage_) {
    case Stage::header:
      active_ = limits_;
      pdu_.ahs.resize(size_t(pdu_.bhs.total_ahs_length()) * 4);
      if (!pdu_.ahs.empty()) {
        stage_ = Stage::ahs;
        return std::nullopt;
      }
      [[fallthrough]];
    case Stage::ahs:
      if (active_.header_digest) {
        stage_ = Stage::header_digest;
        return std::nullopt;
      }
      return header_ready();
    case Stage::header_digest: {
      uint32_t crc = core::crc32c(std::span<const uint8_t>(pdu_.bhs.b));
      if (!pdu_.ahs.empty()) crc = core::crc32c(std::span<const uint8_t>(pdu_.ahs), crc);
      if (crc != load_digest(digest_.data())) {
        stage_ = Stage::done;
        // RFC 7143 §7.8: a header digest error means no field of the header can be trusted,
        // lengths included, so the only safe recovery at ERL 0 is to drop the connection.
        return ProtocolError{ProtocolError::Action::close, RejectReason::protocol_error,
                             "header digest mismatch"};
      }
      return header_ready();
    }
    case Stage::data:
      stage_ = active_.data_digest && data_length_ ? Stage::data_digest : Stage::done;
      return std::nullopt;
    case Stage::data_digest:
      stage_ = Stage::done;
      if (data_crc_ != load_digest(digest_.data()))
        return ProtocolError{ProtocolError::Action::reject_and_close,
                             RejectReason::data_digest_error, "data digest mismatch"};
      return std::nullopt;
    case Stage::done:
      return std::nullopt;
  }
  return std::nullopt;
}

std::optional<ProtocolError> PduReader::header_ready() {
  uint32_t dsl = pdu_.bhs.data_segment_length();
  if (dsl > active_.max_data_segment_length) {
    stage_ = Stage::done;
    return ProtocolError{ProtocolError::Action::reject_and_close, RejectReason::protocol_error,
                         "DataSegmentLength exceeds MaxRecvDataSegmentLength"};
  }
  data_length_ = dsl;
  // A Data-Out's vector waits for the caller's steer(): the payload may go elsewhere.
  if (!(announce_ && pdu_.bhs.opcode() == Opcode::data_out)) pdu_.data.resize(dsl);
  stage_ = dsl ? Stage::data : Stage::done;
  return std::nullopt;
}

Pdu PduReader::take() {
  Pdu out = std::move(pdu_);
  pdu_ = Pdu{};
  stage_ = Stage::header;
  have_ = 0;
  data_crc_ = 0;
  announced_ = false;
  data_length_ = 0;
  steer_ = {};
  return out;
}

void PduReader::steer(std::span<std::byte> to) {
  if (to.size() == data_length_) steer_ = to;
}

std::span<std::byte> PduReader::direct_room() const {
  if (stage_ != Stage::data || steer_.empty() || have_ >= data_length_) return {};
  return steer_.subspan(have_);
}

void PduReader::landed(size_t n) {
  if (active_.data_digest)
    data_crc_ = core::crc32c(std::span<const std::byte>(steer_.data() + have_, n), data_crc_);
  have_ += n;
}

}  // namespace swiftness::iscsi
