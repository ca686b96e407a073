#include "target/scsi/command.hpp"

#include <cstdio>

namespace swiftness::scsi {

std::string Nexus::initiator_port_name() const {
  // SPC-4 7.6.4.6 / RFC 7143 13.? : "<iSCSI name>,i,0x<ISID in 12 hex digits>".
  char hex[13];
  std::snprintf(hex, sizeof hex, "%02x%02x%02x%02x%02x%02x", isid[0], isid[1], isid[2], isid[3],
                isid[4], isid[5]);
  return initiator_name + ",i,0x" + hex;
}

}  // namespace swiftness::scsi
