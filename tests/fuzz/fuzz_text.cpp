// Text key=value parsing and operational-key negotiation on arbitrary data segments: both
// session types, the keys offered twice (a repeated key must fail the negotiation, never crash),
// and the CHAP value decoders on every value. Checks that negotiation never settles on more than
// the target allows and that what parse_text accepts survives a round trip through append_key.
#include "target/iscsi/chap.hpp"
#include "target/iscsi/params.hpp"
#include "target/iscsi/text.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using namespace swiftness;
using namespace swiftness::iscsi;

namespace {

void check_params(const SessionParams& p, const TargetLimits& lim) {
  FUZZ_CHECK(p.max_burst_length <= lim.max_burst_length);
  FUZZ_CHECK(p.first_burst_length <= lim.first_burst_length);
  FUZZ_CHECK(p.first_burst_length <= p.max_burst_length);
  FUZZ_CHECK(p.max_outstanding_r2t >= 1 && p.max_outstanding_r2t <= lim.max_outstanding_r2t);
  FUZZ_CHECK(p.max_connections == 1);
  FUZZ_CHECK(p.error_recovery_level == 0);
  FUZZ_CHECK(p.initiator_max_recv_data_segment_length >= 512 &&
             p.initiator_max_recv_data_segment_length <= 16777215);
  FUZZ_CHECK(p.target_max_recv_data_segment_length <= lim.max_recv_data_segment_length);
  FUZZ_CHECK(p.data_pdu_in_order && p.data_sequence_in_order);
  if (!lim.allow_digests) FUZZ_CHECK(!p.header_digest && !p.data_digest);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  uint8_t mode = in.u8();
  auto segment = in.rest();
  auto keys = parse_text(std::as_bytes(segment));
  if (!keys) return 0;

  // Round trip: what was accepted serialises back to the same pairs.
  std::vector<std::byte> again;
  for (const auto& [k, v] : *keys) {
    FUZZ_CHECK(!k.empty() && k.size() <= kMaxKeyLength && v.size() <= kMaxValueLength);
    append_key(again, k, v);
  }
  auto reparsed = parse_text(again);
  FUZZ_CHECK(reparsed && *reparsed == *keys);

  for (const auto& [k, v] : *keys) {
    if (auto bin = decode_binary(v)) FUZZ_CHECK(bin->size() <= v.size());
    (void)parse_number(v);
  }

  TargetLimits lim;
  lim.allow_digests = mode & 1;
  Negotiator n(mode & 2 ? SessionType::discovery : SessionType::normal, lim);
  auto first = n.negotiate(*keys);
  for (const auto& [k, v] : first.response)
    FUZZ_CHECK(!k.empty() && !v.empty());
  // A failed negotiation fails the login, so its half-settled parameters are never used.
  if (first.failed) return 0;
  check_params(n.params(), lim);
  // The same keys again in a later request of the same login.
  auto second = n.negotiate(*keys);
  if (!second.failed) check_params(n.params(), lim);
  return 0;
}
