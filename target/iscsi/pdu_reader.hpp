// A sans-I/O PDU reader (design.md §2): bytes in, PDUs out. It never touches a socket, so it is
// tested at every split point of a byte stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "target/iscsi/pdu.hpp"
#include "target/iscsi/protocol_error.hpp"

namespace swiftness::iscsi {

struct ReaderLimits {
  bool header_digest = false;
  bool data_digest = false;
  // Our MaxRecvDataSegmentLength: a PDU announcing more is a protocol error (RFC 7143 §13.12).
  uint32_t max_data_segment_length = 8192;
};

// Digests travel as the CRC32C value in little-endian byte order (RFC 3720 B.4 lists the
// digest of 32 zero bytes as the bytes aa 36 91 8a).
uint32_t load_digest(const uint8_t* p);
void store_digest(uint8_t* p, uint32_t crc);

class PduReader {
 public:
  explicit PduReader(ReaderLimits limits = {}) : limits_(limits) {}

  // Digests switch on after login; new limits apply from the next PDU that starts.
  void set_limits(ReaderLimits limits) { limits_ = limits; }
  const ReaderLimits& limits() const { return limits_; }

  // With this on, a Data-Out whose header is complete stops feed() with Kind::header before its
  // payload, so the caller may steer() the payload straight into its destination (issue 7: a
  // write's data went socket buffer -> PDU vector -> task buffer).
  void announce_data_out(bool on) { announce_ = on; }

  struct Step {
    size_t consumed = 0;  // bytes of the input used, also when an error is reported
    // header: a Data-Out's BHS (and AHS) are in and checked, its payload is next (header()).
    enum class Kind { need_more, header, pdu, error } kind = Kind::need_more;
    ProtocolError error{};
  };

  // Consumes input until one PDU is complete or the input runs out. After Kind::pdu, take()
  // returns the PDU. After an error the stream is not usable any more; take() still returns the
  // header, which a Reject carries back.
  Step feed(std::span<const uint8_t> in);
  Pdu take();

  // After Kind::header: the PDU's header. steer() sends its payload (DataSegmentLength bytes,
  // `to.size()` exactly) to `to` instead of the PDU's data vector, which take() then leaves
  // empty; the data digest is still checked over those bytes. `to` must stay valid until the
  // PDU is complete.
  const Bhs& header() const { return pdu_.bhs; }
  void steer(std::span<std::byte> to);
  // The part of a steered payload still to come, for a read from the socket straight into it;
  // empty otherwise. landed(n) says the first n bytes of it were written; feed() (with no
  // input, if none is left) then goes on.
  std::span<std::byte> direct_room() const;
  void landed(size_t n);

 private:
  enum class Stage { header, ahs, header_digest, data, data_digest, done };
  size_t need() const;
  std::optional<ProtocolError> advance();       // the current stage is complete
  std::optional<ProtocolError> header_ready();  // BHS, AHS and header digest are in

  ReaderLimits limits_;
  ReaderLimits active_;  // the limits in force when the current PDU started
  Stage stage_ = Stage::header;
  size_t have_ = 0;  // bytes of the current stage received
  Pdu pdu_;
  std::array<uint8_t, 4> digest_{};
  uint32_t data_crc_ = 0;
  bool announce_ = false;
  bool announced_ = false;      // Kind::header was returned for the current PDU
  uint32_t data_length_ = 0;    // the current PDU's DataSegmentLength
  std::span<std::byte> steer_;  // where its payload goes; empty: pdu_.data
};

}  // namespace swiftness::iscsi
