// One iSCSI connection (and, with MaxConnections=1, its session): login, then the full feature
// phase. Everything runs on the connection's strand, so its state needs no locks; SCSI commands
// run as separate coroutines on the same strand so many are in flight at once.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/container/small_vector.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/log.hpp"
#include "target/iscsi/buffer_budget.hpp"
#include "target/iscsi/login.hpp"
#include "target/iscsi/pdu_reader.hpp"
#include "target/iscsi/responses.hpp"
#include "target/iscsi/serial.hpp"
#include "target/iscsi/target_context.hpp"
#include "target/scsi/command.hpp"

namespace swiftness::iscsi {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // Over the io_context's concrete executor type, not any_io_executor: Asio copies the
  // coroutines' executor into an any_io_executor at every co_spawn and asynchronous operation,
  // and a strand of a type-erased executor is too big for its small-object buffer, so each copy
  // was a heap allocation (about half of a 4 KiB READ's allocations, perf uprobes on malloc).
  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;

  // Shares ownership of the context: coroutine frames still queued when the io_context is
  // destroyed at shutdown destroy their connection after the daemon dropped its own reference.
  Connection(boost::asio::ip::tcp::socket socket, std::shared_ptr<TargetContext> ctx);
  ~Connection();

  void start();
  // Drops the connection; safe from any thread. In-flight commands finish but answer nobody.
  void close();

  // For status reporting (copies taken on the strand are not needed: immutable after login).
  const LoginIdentity& identity() const { return identity_; }
  std::string peer() const { return peer_; }
  // Set at login, before the session is registered, and never changed after.
  std::shared_ptr<const scsi::Nexus> nexus() const { return nexus_; }
  const Strand& strand() const { return strand_; }

  // Aborts this session's tasks on `lun` (every LUN if nullopt) except the task tagged `spare`,
  // and completes once none of them runs. Must run on strand(): co_spawn it there. True if a
  // task was aborted.
  boost::asio::awaitable<bool> abort_and_wait(std::optional<uint64_t> lun,
                                              std::optional<uint32_t> spare_itt);

 private:
  struct OutPdu {
    Bhs bhs;
    std::vector<std::byte> owned;             // small payloads: sense, text, ping data
    std::shared_ptr<const std::byte[]> keep;  // a task buffer the data points into
    std::span<const std::byte> data;          // when empty, `owned` is sent
    std::array<uint8_t, 4> header_digest{};
    std::array<uint8_t, 4> data_digest{};
  };

  struct Burst {
    uint32_t ttt = 0;
    uint32_t offset = 0;
    uint32_t length = 0;
    uint32_t received = 0;
    uint32_t data_sn = 0;  // next expected DataSN in this sequence
  };

  struct Task {
    uint32_t itt = 0;
    uint64_t lun = 0;     // as on the wire
    uint64_t lun_id = 0;  // decoded
    // 16 bytes inline: only an extended-CDB AHS makes it allocate.
    boost::container::small_vector<uint8_t, 16> cdb;
    scsi::TaskAttribute attribute = scsi::TaskAttribute::simple;
    scsi::DataDirection direction = scsi::DataDirection::none;
    uint32_t edtl = 0;
    std::shared_ptr<std::byte[]> buffer;
    uint32_t buffer_size = 0;       // allocated: `keep`, or only the unsolicited part while queued
    uint32_t keep = 0;              // the bytes of a write's data kept (within the LUN's limit)
    uint32_t held = 0;              // bytes counted in budget_ for this task
    bool queued = false;            // a write waiting in budget_ for room before its R2Ts
    uint32_t received = 0;          // Data-Out bytes received
    uint32_t unsolicited_end = 0;   // the initiator may send [0, unsolicited_end) unasked
    uint32_t unsolicited_next = 0;  // next expected unsolicited offset
    uint32_t unsolicited_data_sn = 0;
    uint32_t next_r2t_offset = 0;
    uint32_t r2t_sn = 0;
    std::vector<Burst> bursts;  // outstanding R2Ts
    bool executing = false;
    bool reported_slow = false;                       // logged once as a slow command (ping_loop)
    std::chrono::steady_clock::time_point started{};  // when it went to the device
    bool aborted = false;
    bool oversize = false;  // EDTL beyond what we buffer: absorb unsolicited data, then fail
  };

  // I/O
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<void> write_loop();
  boost::asio::awaitable<void> login_timer();
  boost::asio::awaitable<void> ping_loop();
  // Logs (once each) commands at the device for longer than timeouts.slow_command.
  void report_slow_commands(std::chrono::steady_clock::time_point now);
  // Parks the read loop until the output queue is back under kOutputLowWater and the task
  // buffers within their budget (or closing).
  boost::asio::awaitable<void> wait_for_drain();
  bool over_buffer_budget() const;
  // True while the read loop should not take more PDUs: output above `output_mark`, or task
  // buffers over budget.
  bool must_pause(size_t output_mark) const {
    return out_bytes_ > output_mark || over_buffer_budget();
  }
  static size_t queued_size(const OutPdu& p) {
    return kBhsLength + (p.data.empty() ? p.owned.size() : p.data.size());
  }
  void queue(OutPdu pdu);
  void stamp(Bhs& bhs);
  void send_reject(const Bhs& offending, RejectReason reason);

  // Login phase
  boost::asio::awaitable<void> handle_login(const Pdu& pdu);
  // Returns the connection of the session this login reinstates, if any.
  std::shared_ptr<Connection> login_complete(const LoginMachine& m);
  boost::asio::awaitable<void> end_displaced_session(std::shared_ptr<Connection> old);
  void end_nexus();  // once: the session is over for the SCSI layer

  // Full feature phase
  void handle_pdu(Pdu pdu);
  void dispatch_ordered(Pdu pdu);
  void handle_scsi_command(Pdu pdu);
  void handle_data_out(Pdu pdu);
  // Where the payload of the Data-Out whose header `b` is should go: its bytes of the task
  // buffer, if handle_data_out() will accept it there as it stands; empty keeps the usual path
  // (the PDU's own vector), so anything invalid is rejected exactly as before.
  std::span<std::byte> data_out_target(const Bhs& b) const;
  void handle_nop_out(Pdu pdu);
  void handle_text(const Pdu& pdu);
  void handle_logout(const Pdu& pdu);
  void handle_tmf(const Pdu& pdu);
  void send_r2ts(Task& task);
  // Takes the task out of tasks_ and gives back its budget (or its place in the queue); the
  // caller then calls admit_writes(), after all its removals.
  void forget(Task& task);
  // Sends the first R2Ts of the queued writes that now fit in the budget, in arrival order.
  void admit_writes();
  void start_execution(const std::shared_ptr<Task>& task);
  boost::asio::awaitable<void> execute(std::shared_ptr<Task> task);
  void send_result(Task& task, const scsi::CommandResult& result);
  void send_check_condition(Task& task, uint8_t key, uint8_t asc, uint8_t ascq);
  boost::asio::awaitable<void> run_tmf(std::shared_ptr<const Pdu> pdu);
  boost::asio::awaitable<void> run_logout(std::shared_ptr<const Pdu> pdu);
  boost::asio::awaitable<void> wait_for_tasks(std::vector<std::shared_ptr<Task>> tasks);
  // Marks the tasks aborted, forgets those not executing, returns those still executing.
  void remember_aborted(uint32_t itt);
  std::vector<std::shared_ptr<Task>> abort_tasks(std::optional<uint64_t> lun,
                                                 std::optional<uint32_t> spare_itt = std::nullopt);
  // TMFs whose scope is the whole task set of a LUN (or the target), every nexus included.
  boost::asio::awaitable<std::vector<uint64_t>> abort_everywhere(std::optional<uint64_t> lun);
  uint32_t free_slots() const;
  void append_send_targets(std::vector<std::byte>& out, std::string_view which);

  std::shared_ptr<TargetContext> ctx_owner_;
  TargetContext& ctx_;
  boost::asio::ip::tcp::socket socket_;
  Strand strand_;
  std::string peer_;
  std::shared_ptr<spdlog::logger> log_;
  core::RateLimit log_limit_;

  PduReader reader_;
  // The task buffer the current Data-Out's payload is steered into (issue 7), kept alive until
  // the PDU is complete: an ABORT TASK may drop the task meanwhile.
  std::shared_ptr<std::byte[]> steered_;
  // Payload still to come beyond this is read from the socket straight into the task buffer,
  // not through the read loop's buffer.
  static constexpr size_t kDirectReadMin = 16u << 10;
  // Set after a steered Data-Out: the next PDU is likely another, so the next read takes only
  // its header (and header digest), and its payload can then be read in place rather than
  // through the read loop's buffer. One more small read per Data-Out of up to 256 KiB.
  bool expect_data_out_ = false;
  std::optional<LoginMachine> login_;
  bool logged_in_ = false;
  bool closing_ = false;
  LoginIdentity identity_;
  SessionParams params_;
  std::shared_ptr<scsi::Nexus> nexus_;
  bool registered_ = false;

  uint32_t stat_sn_ = 0;
  CmdWindow window_;
  std::map<uint32_t, Pdu> held_;  // non-immediate PDUs ahead of ExpCmdSN, by CmdSN
  // ITTs of write tasks aborted while waiting for Data-Out: their late data is dropped quietly.
  static constexpr size_t kRecentlyAbortedKept = 256;
  std::deque<uint32_t> recently_aborted_;
  // Data buffers of the commands now running (from start_execution to their result): they end
  // on their own and give their buffers back. Above kTaskBufferBudget the read loop takes no
  // new PDUs (issue 8: without it one session could make 128 READs pin their full transfer
  // length each, 1 GiB at the 8 MiB limit). Buffers of writes still waiting for Data-Out do not
  // count: only reading on brings them forward. 16 MiB running is plenty for one connection:
  // 4 x 4 MiB sequential reads or 4096 x 4 KiB ones.
  static constexpr size_t kTaskBufferBudget = 16u << 20;
  size_t executing_bytes_ = 0;
  // The bytes held by running commands and by writes whose R2Ts went out (or that need none):
  // a write that needs R2Ts gets them only while this is under kWriteBufferBudget, and waits in
  // FIFO order otherwise, holding no more than its unsolicited data (issue 8: 128 WRITEs of
  // 8 MiB sent R2Ts at once pinned 1 GiB as soon as the peer sent all but their last bytes).
  // The same figure as the read loop's: 16 MiB in flight keeps 1 MiB writes at QD 16 moving on
  // a fast link. Why it never deadlocks: buffer_budget.hpp.
  static constexpr size_t kWriteBufferBudget = kTaskBufferBudget;
  BufferBudget budget_{kWriteBufferBudget};
  std::unordered_map<uint32_t, std::shared_ptr<Task>> tasks_;
  uint32_t next_ttt_ = 1;

  std::deque<OutPdu> out_;
  bool writing_ = false;
  // Back-pressure: a client that sends commands and never reads their answers must not make us
  // queue them without bound. Above the high mark the read loop stops taking PDUs off the
  // socket (TCP flow control then stops the client) until the queue drains below the low mark;
  // a peer that takes none of it is dropped by the NOP-In timeout (ping_loop). A single READ
  // response may exceed the high mark on its own: it is sent, reading resumes after it.
  static constexpr size_t kOutputHighWater = 4u << 20;
  static constexpr size_t kOutputLowWater = 1u << 20;
  // One gathered write carries at most this much (and at least one PDU), so a slow reader shows
  // progress (last_tx_) at least this often.
  static constexpr size_t kWriteBatchBytes = 1u << 20;
  size_t out_bytes_ = 0;  // queued_size() of everything in out_
  bool reading_paused_ = false;
  boost::asio::steady_timer drained_;  // cancelled when a paused read loop may go on

  boost::asio::steady_timer login_timer_;
  boost::asio::steady_timer ping_timer_;
  std::chrono::steady_clock::time_point last_rx_;
  std::chrono::steady_clock::time_point last_tx_;  // the last completed write: the peer reads
  std::optional<uint32_t> ping_ttt_;
  std::chrono::steady_clock::time_point ping_sent_;
};

}  // namespace swiftness::iscsi
