#pragma once
// The engine of iscsi-rwverify: issues planned READ/WRITE commands with up to qd in flight on one
// session, checks read data against the pattern, issues SYNCHRONIZE CACHE, and records in the
// ack log which writes the target has made durable.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/bench/iscsi/ack_log.hpp"
#include "tests/bench/iscsi/block_pattern.hpp"
#include "tests/bench/iscsi/io_plan.hpp"
#include "tests/bench/iscsi/iscsi_session.hpp"

struct iscsi_context;

namespace swiftness::bench {

struct RunnerOptions {
  int qd = 16;
  int max_report = 10;      // mismatching blocks described on stderr
  uint64_t sync_every = 0;  // SYNCHRONIZE CACHE after this many writes (0: only at the end)
  AckLogWriter* ack_log = nullptr;
};

class Runner {
 public:
  Runner(std::unique_ptr<IscsiSession> session, const RunnerOptions& opts, BlockPattern pattern,
         uint32_t max_blocks);
  // Dropping the session completes whatever is still in flight (CANCELLED) through our
  // callbacks, so it happens here, while the slots still exist.
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  IscsiSession& session() { return *session_; }

  // One pass over the plan; false on a command failure (reported on stderr). Repeated passes
  // over the same plan object log each extent as durable once.
  bool write(const std::vector<PlannedIo>& plan);
  bool read_and_verify(const std::vector<PlannedIo>& plan);
  // SBC-3 5.22: SYNCHRONIZE CACHE (10) with LBA 0 and NUMBER OF LOGICAL BLOCKS 0 covers the whole
  // medium. Waits for it; on success every completed write is durable.
  bool synchronize_cache();

  uint64_t commands() const { return commands_; }
  uint64_t bytes() const { return bytes_; }
  uint64_t count10() const { return count10_; }
  uint64_t count16() const { return count16_; }
  uint64_t count_fua() const { return count_fua_; }
  uint64_t syncs() const { return syncs_; }
  uint64_t bad_blocks() const { return bad_blocks_; }
  int peak_in_flight() const { return peak_in_flight_; }
  void reset_counters() { commands_ = bytes_ = count10_ = count16_ = count_fua_ = syncs_ = 0; }

 private:
  struct Slot;
  static void on_complete(iscsi_context* ctx, int status, void* command_data, void* priv);

  bool run(const std::vector<PlannedIo>& plan, bool is_write);
  bool submit_next(Slot& s);
  bool issue_sync();
  void complete(iscsi_context* ctx, Slot& s, int status);
  void check(const Slot& s);
  void mark_durable(size_t plan_index);
  bool drain();
  void fail(const std::string& message);
  std::string op_name(const Slot& s) const;

  std::unique_ptr<IscsiSession> session_;
  RunnerOptions opts_;
  BlockPattern pattern_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::unique_ptr<Slot> sync_slot_;
  const std::vector<PlannedIo>* plan_ = nullptr;
  size_t next_ = 0;
  bool is_write_ = false;
  int outstanding_ = 0;
  bool failed_ = false;

  // Durability bookkeeping, by plan index.
  const std::vector<PlannedIo>* ack_plan_ = nullptr;
  std::vector<bool> acked_;
  std::vector<size_t> completed_unsynced_;  // completed without FUA since the last sync began
  std::vector<size_t> syncing_;             // covered by the SYNCHRONIZE CACHE in flight
  uint64_t writes_since_sync_ = 0;
  bool sync_in_flight_ = false;

  uint64_t commands_ = 0, bytes_ = 0, count10_ = 0, count16_ = 0, count_fua_ = 0, syncs_ = 0;
  uint64_t bad_blocks_ = 0;
  int peak_in_flight_ = 0;
};

}  // namespace swiftness::bench
