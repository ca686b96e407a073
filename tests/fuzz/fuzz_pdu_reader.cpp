// The sans-I/O PDU reader on arbitrary bytes. Input: a limits byte (digests, MaxRecvDataSegment-
// Length), a split seed, then the byte stream. Besides memory errors it checks that every PDU
// matches its header's lengths and that splitting the stream into arbitrary pieces (as TCP does)
// yields exactly the PDUs and the error of one whole feed.
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

// Feeds `stream` in pieces whose sizes come from `seed` (0: one piece).
Outcome run(std::span<const uint8_t> stream, ReaderLimits lim, uint8_t seed) {
  Outcome out;
  PduReader reader(lim);
  uint32_t state = seed;
  size_t off = 0;
  while (off < stream.size() && !out.error) {
    size_t piece = stream.size() - off;
    if (seed) {
      state = state * 1103515245u + 12345u;
      piece = std::min<size_t>(piece, 1 + (state >> 16) % 67);
    }
    std::span<const uint8_t> in = stream.subspan(off, piece);
    off += piece;
    while (!in.empty()) {
      auto step = reader.feed(in);
      FUZZ_CHECK(step.consumed <= in.size());
      out.consumed += step.consumed;
      in = in.subspan(step.consumed);
      if (step.kind == PduReader::Step::Kind::need_more) {
        FUZZ_CHECK(in.empty());  // need_more only when the input ran out
        break;
      }
      Pdu p = reader.take();
      if (step.kind == PduReader::Step::Kind::error) {
        out.error = true;
        out.what = std::string(step.error.what);
        break;
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
  uint8_t seed = in.u8();
  auto stream = in.rest();

  Outcome whole = run(stream, lim, 0);
  Outcome split = run(stream, lim, seed ? seed : 1);
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
