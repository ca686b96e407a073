#pragma once
// The acknowledged-durable log of iscsi-rwverify --ack-log: which extents the target has
// promised to keep, so a verify after the target was killed checks exactly those.
//
// A write is durable once acknowledged with FUA, or once a SYNCHRONIZE CACHE issued after its
// completion has completed (SBC-3 5.22 / 4.15: the cache is synchronized for writes completed
// before the command). Writes in flight when the target died may hold old or new data; they
// are not in the log and are not checked.
//
// Text format, one write(2) per line so a killed writer leaves at most a torn last line:
//   iscsi-rwverify-ack-log v1 seed=7 block_size=512
//   <lba> <blocks>
//   ...

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/bench/iscsi/cli_util.hpp"

namespace swiftness::bench {

class AckLogWriter {
 public:
  // Creates (truncates) the file and writes the header. Null with *error on failure.
  static std::unique_ptr<AckLogWriter> create(const std::string& path, uint64_t seed,
                                              uint32_t block_size, std::string* error);
  ~AckLogWriter();
  AckLogWriter(const AckLogWriter&) = delete;
  AckLogWriter& operator=(const AckLogWriter&) = delete;

  // Appends one extent; false if the write failed.
  bool append(uint64_t lba, uint64_t blocks);
  uint64_t extents() const { return extents_; }

 private:
  explicit AckLogWriter(int fd) : fd_(fd) {}
  int fd_;
  uint64_t extents_ = 0;
};

struct AckLog {
  uint64_t seed = 0;
  uint32_t block_size = 0;
  std::vector<LbaRange> extents;
};

// Reads a log; a torn last line (no newline) is ignored, anything else malformed is an error.
std::optional<AckLog> read_ack_log(const std::string& path, std::string* error);

}  // namespace swiftness::bench
