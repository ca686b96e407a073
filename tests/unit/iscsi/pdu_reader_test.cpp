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

namespace {

struct SteerRun {
  std::vector<Pdu> pdus;
  std::vector<std::byte> target;  // where Data-Out payloads were steered, at their offsets
  std::optional<ProtocolError> error;
  int headers = 0;
};

// Reads `wire` as the connection does with announce_data_out on: in reads of at most `chunk`
// bytes, each Data-Out's payload steered into `target` at its Buffer Offset (if `steer`), and,
// when `direct`, read straight into the steered room instead of through the input buffer.
SteerRun read_steered(PduReader& r, const std::vector<uint8_t>& wire, size_t chunk, bool steer,
                      bool direct) {
  SteerRun run;
  run.target.assign(8192, std::byte{0});
  r.announce_data_out(true);
  size_t pos = 0;
  for (int reads = 0; reads < 100000 && pos < wire.size() && !run.error; ++reads) {
    std::span<const uint8_t> in;
    bool landed = false;
    auto room = r.direct_room();
    size_t n = std::min(chunk, wire.size() - pos);
    if (direct && !room.empty()) {
      n = std::min(n, room.size());
      std::memcpy(room.data(), wire.data() + pos, n);
      r.landed(n);
      landed = true;
    } else {
      in = std::span<const uint8_t>(wire.data() + pos, n);
    }
    pos += n;
    while (!in.empty() || landed) {
      landed = false;
      auto step = r.feed(in);
      in = in.subspan(step.consumed);
      if (step.kind == PduReader::Step::Kind::need_more) break;
      if (step.kind == PduReader::Step::Kind::error) {
        run.error = step.error;
        break;
      }
      if (step.kind == PduReader::Step::Kind::header) {
        ++run.headers;
        const Bhs& b = r.header();
        if (steer)
          r.steer(std::span<std::byte>(run.target).subspan(b.field32(40), b.data_segment_length()));
        continue;
      }
      run.pdus.push_back(r.take());
    }
  }
  return run;
}

}  // namespace

// Issue 7: a Data-Out's payload steered into its destination arrives there intact, through the
// input buffer or read straight into it, at every read size and with digests; other PDUs and
// Data-Outs nobody steers are read as before.
TEST(PduReader, SteeredDataOutPayloadsLandInTheirDestination) {
  auto payload = bytes(1001, 9);  // odd: padding follows it
  auto nop = bytes(37, 5);
  for (bool hd : {false, true})
    for (bool dd : {false, true}) {
      std::vector<uint8_t> wire;
      auto add = [&](const PduBuilder& b) {
        auto w = b.wire(hd, dd);
        wire.insert(wire.end(), w.begin(), w.end());
      };
      add(PduBuilder(Opcode::nop_out, true).itt(1).data(nop));
      add(PduBuilder(Opcode::data_out).itt(2).field32(40, 3000).data(payload));
      add(PduBuilder(Opcode::data_out).itt(3).field32(40, 0));  // no payload: not announced
      add(PduBuilder(Opcode::scsi_command).itt(4));
      for (bool direct : {false, true})
        for (size_t chunk = 1; chunk <= wire.size(); chunk += chunk < 64 ? 1 : 61) {
          SCOPED_TRACE(::testing::Message() << "hd " << hd << " dd " << dd << " direct " << direct
                                            << " chunk " << chunk);
          PduReader r({hd, dd, 8192});
          auto run = read_steered(r, wire, chunk, true, direct);
          ASSERT_FALSE(run.error) << run.error->what;
          ASSERT_EQ(run.pdus.size(), 4u);
          EXPECT_EQ(run.headers, 1);
          EXPECT_EQ(run.pdus[0].data, nop);
          EXPECT_TRUE(run.pdus[1].data.empty());
          EXPECT_EQ(run.pdus[1].bhs.data_segment_length(), payload.size());
          EXPECT_TRUE(std::equal(payload.begin(), payload.end(), run.target.begin() + 3000));
          EXPECT_EQ(run.pdus[3].bhs.itt(), 4u);
        }
      PduReader r({hd, dd, 8192});
      auto kept = read_steered(r, wire, 100, false, true);
      ASSERT_FALSE(kept.error);
      ASSERT_EQ(kept.pdus.size(), 4u);
      EXPECT_EQ(kept.pdus[1].data, payload) << "a payload nobody steered stays in the PDU";
    }
}

TEST(PduReader, SteeredPayloadWithABadDataDigestIsRejected) {
  auto wire = PduBuilder(Opcode::data_out).itt(2).data(bytes(4000, 1)).wire(false, true);
  wire[48 + 3000] ^= 0x01;
  for (bool direct : {false, true}) {
    PduReader r({false, true, 8192});
    auto run = read_steered(r, wire, 1024, true, direct);
    ASSERT_TRUE(run.error) << "direct " << direct;
    EXPECT_EQ(run.error->reason, RejectReason::data_digest_error);
  }
}
