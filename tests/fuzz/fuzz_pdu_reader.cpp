// The sans-I/O PDU reader on arbitrary bytes. Input: a limits byte (digests, MaxRecvDataSegment-
// Length, steering), a split seed, then the byte stream. Besides memory errors it checks that
// every PDU matches its header's lengths and that splitting the stream into arbitrary pieces (as
// TCP does) yields exactly the PDUs and the error of one whole feed. With steering on, the split
// run also does what the connection does with a Data-Out (issue 7): announced at its header, its
// payload is steered to a buffer of its own (or not, at random), and part of what remains is
// written straight into that buffer as a socket read would (direct_room/landed). That must
// change nothing either: same PDUs, same bytes, same errors, digests still checked.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "target/iscsi/pdu_reader.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using namespace swiftness;
using namespace swiftness::iscsi;

namespace {

struct Outcome {
  std::vector<Pdu> pdus;
  bool error = false;
  std::string what;
  size_t consumed = 0;
};

void check_pdu(const Pdu& p, const ReaderLimits& lim) {
  FUZZ_CHECK(p.ahs.size() == size_t(p.bhs.total_ahs_length()) * 4);
  FUZZ_CHECK(p.data.size() == p.bhs.data_segment_length());
  FUZZ_CHECK(p.data.size() <= lim.max_data_segment_length);
}

// Feeds `stream` in pieces whose sizes come from `seed` (0: one piece); with `steer`, Data-Out
// payloads may be steered and partly landed directly (see the top of the file).
Outcome run(std::span<const uint8_t> stream, ReaderLimits lim, uint8_t seed, bool steer) {
  Outcome out;
  PduReader reader(lim);
  reader.announce_data_out(steer);
  uint32_t state = seed;
  auto next = [&state] {
    state = state * 1103515245u + 12345u;
    return state >> 16;
  };
  std::vector<std::byte> steered;  // the current Data-Out's payload, when steered
  bool steering = false;
  size_t off = 0;
  while (off < stream.size() && !out.error) {
    size_t piece = stream.size() - off;
    if (seed) piece = std::min<size_t>(piece, 1 + next() % 67);
    std::span<const uint8_t> in = stream.subspan(off, piece);
    off += piece;
    // `again`: the reader must be fed once more even with no input left (after a header was
    // announced or bytes landed, as the connection does).
    bool again = false;
    while (!in.empty() || again) {
      again = false;
      auto room = reader.direct_room();
      FUZZ_CHECK(steering || room.empty());
      if (!room.empty() && !in.empty() && next() % 2) {
        size_t n = std::min({room.size(), in.size(), size_t(1 + next() % 300)});
        std::memcpy(room.data(), in.data(), n);
        reader.landed(n);
        out.consumed += n;
        in = in.subspan(n);
        again = true;
        continue;
      }
      auto step = reader.feed(in);
      FUZZ_CHECK(step.consumed <= in.size());
      out.consumed += step.consumed;
      in = in.subspan(step.consumed);
      if (step.kind == PduReader::Step::Kind::need_more) {
        FUZZ_CHECK(in.empty());  // need_more only when the input ran out
        break;
      }
      if (step.kind == PduReader::Step::Kind::header) {
        FUZZ_CHECK(steer && reader.header().opcode() == Opcode::data_out);
        if (next() % 3) {
          steered.assign(reader.header().data_segment_length(), std::byte{0x5a});
          reader.steer(steered);
          steering = true;
        }
        again = true;
        continue;
      }
      Pdu p = reader.take();
      if (step.kind == PduReader::Step::Kind::error) {
        out.error = true;
        out.what = std::string(step.error.what);
        break;
      }
      if (steering) {
        FUZZ_CHECK(p.data.empty());  // the payload went to the steered buffer only
        p.data = std::move(steered);
        steered.clear();
        steering = false;
      }
      check_pdu(p, lim);
      out.pdus.push_back(std::move(p));
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  uint8_t l = in.u8();
  ReaderLimits lim{bool(l & 1), bool(l & 2), 512u << ((l >> 2) & 7)};  // 512 B .. 64 KiB
  const bool steer = l & 0x20;
  uint8_t seed = in.u8();
  auto stream = in.rest();

  Outcome whole = run(stream, lim, 0, false);
  Outcome split = run(stream, lim, seed ? seed : 1, steer);
  FUZZ_CHECK(whole.error == split.error && whole.what == split.what);
  FUZZ_CHECK(whole.consumed == split.consumed);
  FUZZ_CHECK(whole.pdus.size() == split.pdus.size());
  for (size_t i = 0; i < whole.pdus.size(); ++i) {
    FUZZ_CHECK(whole.pdus[i].bhs.b == split.pdus[i].bhs.b);
    FUZZ_CHECK(whole.pdus[i].ahs == split.pdus[i].ahs);
    FUZZ_CHECK(whole.pdus[i].data == split.pdus[i].data);
  }
  return 0;
}
