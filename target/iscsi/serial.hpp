// RFC 1982 serial number arithmetic for 32-bit CmdSN/StatSN (RFC 7143 §4.2.2.1 uses it for every
// sequence-number comparison, so windows keep working across the 2^32 wrap).
#pragma once

#include <cstdint>

namespace swiftness::iscsi {

// a < b in serial arithmetic. Undefined (false here) when the distance is exactly 2^31.
constexpr bool sn_lt(uint32_t a, uint32_t b) {
  return a != b && int32_t(b - a) > 0;
}
constexpr bool sn_le(uint32_t a, uint32_t b) {
  return a == b || sn_lt(a, b);
}
constexpr bool sn_gt(uint32_t a, uint32_t b) {
  return sn_lt(b, a);
}

// The command window [ExpCmdSN, MaxCmdSN]. MaxCmdSN = ExpCmdSN - 1 means the window is closed.
// MaxCmdSN never moves backwards: a command the initiator sent inside a window we offered must
// not become "outside" because the window shrank meanwhile.
class CmdWindow {
 public:
  void reset(uint32_t exp_cmd_sn) {
    exp_ = exp_cmd_sn;
    max_ = exp_cmd_sn - 1;
  }
  uint32_t exp_cmd_sn() const { return exp_; }
  uint32_t max_cmd_sn() const { return max_; }

  // The MaxCmdSN to put in the next PDU, with `slots` free task slots.
  uint32_t advertise(uint32_t slots) {
    uint32_t m = exp_ + slots - 1;
    if (sn_gt(m, max_)) max_ = m;
    return max_;
  }

  enum class Verdict { in_order, ahead, outside };
  // Classifies a non-immediate CmdSN: the next expected one, one further ahead inside the window
  // (held until the gap fills), or outside (already seen, or beyond MaxCmdSN: silently ignored,
  // RFC 7143 §4.2.2.1).
  Verdict classify(uint32_t cmd_sn) const {
    if (sn_gt(cmd_sn, max_) || sn_lt(cmd_sn, exp_)) return Verdict::outside;
    return cmd_sn == exp_ ? Verdict::in_order : Verdict::ahead;
  }
  void advance() { ++exp_; }

 private:
  uint32_t exp_ = 0;
  uint32_t max_ = uint32_t(-1);
};

}  // namespace swiftness::iscsi
