#include "target/iscsi/pdu_reader.hpp"

#include <gtest/gtest.h>

#include "tests/unit/iscsi/pdu_builder.hpp"

using namespace swiftness::iscsi;
using swiftness::iscsi::testing::PduBuilder;

namespace {

std::vector<std::byte> bytes(size_t n, uint8_t seed) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = std::byte(uint8_t(seed + i * 7));
  return v;
}

// Feeds `wire` cut at `split` and returns the PDUs read; fails the test on an error.
std::vector<Pdu> read_all(PduReader& r, const std::vector<uint8_t>& wire, size_t split) {
  std::vector<Pdu> out;
  std::span<const uint8_t> parts[2] = {{wire.data(), split},
                                       {wire.data() + split, wire.size() - split}};
  for (auto part : parts) {
    while (!part.empty()) {
      auto step = r.feed(part);
      part = part.subspan(step.consumed);
      EXPECT_NE(step.kind, PduReader::Step::Kind::error) << step.error.what;
      if (step.kind == PduReader::Step::Kind::pdu) out.push_back(r.take());
      if (step.kind == PduReader::Step::Kind::need_more) break;
    }
  }
  return out;
}

}  // namespace

// Beast-style "parsegrind": every split point of a stream of PDUs gives the same PDUs.
TEST(PduReader, EverySplitPointYieldsTheSamePdus) {
  for (bool hd : {false, true}) {
    for (bool dd : {false, true}) {
      PduBuilder a(Opcode::scsi_command);
      a.itt(1).data(bytes(5, 1));  // 5 bytes: 3 bytes of padding
      PduBuilder b(Opcode::nop_out, true);
      b.itt(2);
      PduBuilder c(Opcode::data_out);
      c.itt(3).ahs({0, 5, 1, 0, 9, 9, 9, 9}).data(bytes(1024, 9));
      std::vector<uint8_t> wire = a.wire(hd, dd);
      for (auto* p : {&b, &c}) {
        auto w = p->wire(hd, dd);
        wire.insert(wire.end(), w.begin(), w.end());
      }
      for (size_t split = 0; split <= wire.size(); ++split) {
        PduReader r({hd, dd, 8192});
        auto pdus = read_all(r, wire, split);
        ASSERT_EQ(pdus.size(), 3u) << "split " << split << " hd " << hd << " dd " << dd;
        EXPECT_EQ(pdus[0].bhs.itt(), 1u);
        EXPECT_EQ(pdus[0].data, bytes(5, 1));
        EXPECT_EQ(pdus[1].bhs.opcode(), Opcode::nop_out);
        EXPECT_TRUE(pdus[1].bhs.immediate());
        EXPECT_TRUE(pdus[1].data.empty());
        EXPECT_EQ(pdus[2].ahs.size(), 8u);
        EXPECT_EQ(pdus[2].data, bytes(1024, 9));
      }
    }
  }
}

TEST(PduReader, OversizedDataSegmentIsAProtocolError) {
  PduBuilder a(Opcode::scsi_command);
  a.data(bytes(8196, 0));
  PduReader r({false, false, 8192});
  auto wire = a.wire();
  auto step = r.feed(wire);
  ASSERT_EQ(step.kind, PduReader::Step::Kind::error);
  EXPECT_EQ(step.error.reason, RejectReason::protocol_error);
  // Detected from the header alone: the data is never buffered.
  EXPECT_EQ(step.consumed, kBhsLength);
}

TEST(PduReader, BadHeaderDigestClosesTheConnection) {
  PduBuilder a(Opcode::nop_out, true);
  auto wire = a.wire(true, false);
  wire[kBhsLength] ^= 1;
  PduReader r({true, false, 8192});
  auto step = r.feed(wire);
  ASSERT_EQ(step.kind, PduReader::Step::Kind::error);
  EXPECT_EQ(step.error.action, ProtocolError::Action::close);
}

TEST(PduReader, BadDataDigestIsRejectedWithThatReason) {
  PduBuilder a(Opcode::scsi_command);
  a.itt(77).data(bytes(100, 3));
  auto wire = a.wire(true, true);
  wire[wire.size() - 10] ^= 0x80;  // a payload byte
  PduReader r({true, true, 8192});
  auto step = r.feed(wire);
  ASSERT_EQ(step.kind, PduReader::Step::Kind::error);
  EXPECT_EQ(step.error.reason, RejectReason::data_digest_error);
  EXPECT_EQ(r.take().bhs.itt(), 77u);  // the header goes back in the Reject
}

TEST(PduReader, DigestBytesMatchRfc3720Vector) {
  // RFC 3720 B.4: 32 bytes of zeros have the CRC bytes aa 36 91 8a on the wire.
  std::array<uint8_t, 32> zeros{};
  std::array<uint8_t, 4> d{};
  store_digest(d.data(), swiftness::core::crc32c(zeros));
  EXPECT_EQ(d, (std::array<uint8_t, 4>{0xaa, 0x36, 0x91, 0x8a}));
}

TEST(PduReader, NewLimitsApplyFromTheNextPdu) {
  PduReader r({false, false, 8192});
  PduBuilder a(Opcode::login_request);
  a.key("InitiatorName", "iqn.2026-01.test:x");
  auto w1 = a.wire();
  PduBuilder b(Opcode::nop_out, true);
  auto w2 = b.wire(true, false);
  auto s1 = r.feed(w1);
  ASSERT_EQ(s1.kind, PduReader::Step::Kind::pdu);
  r.take();
  r.set_limits({true, false, 8192});
  auto s2 = r.feed(w2);
  ASSERT_EQ(s2.kind, PduReader::Step::Kind::pdu);
  EXPECT_EQ(s2.consumed, w2.size());
}
