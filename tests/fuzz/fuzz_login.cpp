// The login state machine on sequences of Login Request PDUs. Input: a configuration byte
// (CHAP, mutual CHAP, discovery CHAP, allow list), then PDUs as [48-byte BHS][u16 length][data].
// The security property checked: with CHAP required, no sequence of PDUs completes a login (the
// fuzzer cannot compute MD5 answers to our random challenges, so a completion is a bypass).
// Each response must also be a well-formed Login Response whose text parses.
#include "target/iscsi/login.hpp"
#include "target/iscsi/text.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using namespace swiftness;
using namespace swiftness::iscsi;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  uint8_t mode = in.u8();
  LoginConfig cfg;
  cfg.target_name = "iqn.2026-11.io.swiftness:fuzz";
  cfg.target_alias = "fuzz";
  if (mode & 1) cfg.chap = ChapCredentials{"alice", "alicesecret12"};
  if (mode & 2) cfg.mutual_chap = ChapCredentials{"target", "targetsecret1"};
  cfg.discovery_chap = mode & 4;
  if (mode & 8) cfg.allowed_initiators = {"iqn.2026-11.org.example:fuzz"};

  bool reinstatement_ok = mode & 16;
  LoginMachine m(
      cfg, [reinstatement_ok](const LoginIdentity&) { return reinstatement_ok; },
      [] { return uint16_t(42); });

  for (int i = 0; i < 16 && !in.empty(); ++i) {
    Pdu req;
    auto bhs = in.bytes(kBhsLength);
    std::copy(bhs.begin(), bhs.end(), req.bhs.b.begin());
    auto body = in.bytes(in.u16());
    req.data.assign(reinterpret_cast<const std::byte*>(body.data()),
                    reinterpret_cast<const std::byte*>(body.data() + body.size()));
    // The reader guarantees DataSegmentLength matches the data it delivers.
    req.bhs.set_data_segment_length(uint32_t(req.data.size()));

    auto reply = m.step(req);
    const Bhs& r = reply.pdu.bhs;
    FUZZ_CHECK(r.opcode() == Opcode::login_response);
    FUZZ_CHECK(r.itt() == req.bhs.itt());
    FUZZ_CHECK(r.data_segment_length() == reply.pdu.data.size());
    FUZZ_CHECK(!(reply.complete && reply.failed));
    FUZZ_CHECK(parse_text(reply.pdu.data).has_value());
    if (reply.failed) {
      FUZZ_CHECK(r.b[36] != 0);  // a failure carries a non-zero status class
      break;
    }
    FUZZ_CHECK(r.b[36] == 0 && r.b[37] == 0);
    if (reply.complete) {
      bool normal = m.identity().type == SessionType::normal;
      bool chap_required = cfg.chap && (normal || cfg.discovery_chap);
      FUZZ_CHECK(!chap_required);
      FUZZ_CHECK(m.tsih() != 0);
      if (!cfg.allowed_initiators.empty())
        FUZZ_CHECK(m.identity().initiator_name == cfg.allowed_initiators[0]);
      if (normal) FUZZ_CHECK(m.params().max_connections == 1);
      break;
    }
  }
  return 0;
}
