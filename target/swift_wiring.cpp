#include "target/swift_wiring.hpp"

namespace swiftness::target {

swift::SwiftConfig swift_config(const config::SwiftSection& s) {
  swift::SwiftConfig o;
  o.auth_url = s.auth_url;
  o.auth_version = s.auth_version == 3 ? swift::AuthVersion::v3 : swift::AuthVersion::v1;
  o.user = s.user;
  o.key = s.key;
  o.project = s.project;
  o.project_domain = s.project_domain;
  o.user_domain = s.user_domain;
  o.region = s.region;
  o.interface = s.interface;
  o.ca_file = s.ca_file;
  o.verify_tls = s.verify_tls;
  o.request_timeout = std::chrono::milliseconds(s.request_timeout_ms);
  return o;
}

}  // namespace swiftness::target
