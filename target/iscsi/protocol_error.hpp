// Protocol errors (design.md §7): what went wrong and how the connection answers it.
#pragma once

#include <cstdint>
#include <string_view>

#include "target/iscsi/pdu.hpp"

namespace swiftness::iscsi {

struct ProtocolError {
  enum class Action : uint8_t {
    reject,            // send a Reject PDU carrying the header, keep the connection
    reject_and_close,  // send a Reject, then drop this connection (ERL 0 recovery)
    close,             // framing lost or header untrusted: drop this connection
  };
  Action action = Action::close;
  RejectReason reason = RejectReason::protocol_error;
  std::string_view what = "";
};

}  // namespace swiftness::iscsi
