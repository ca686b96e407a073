// The SCSI data path of a connection: SCSI Command, Data-Out, R2T, Data-In, SCSI Response and
// task management (RFC 7143 §4.2, §11.3-11.8).
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>

#include "target/iscsi/connection.hpp"

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;

namespace swiftness::iscsi {

using scsi::TmfResponse;

namespace {

// Buffers are allocated per command from EDTL; beyond this an initiator could make us allocate
// gigabytes with one PDU. It is well above the largest transfer VPD B0 advertises.
constexpr uint32_t kMaxBuffer = 64u << 20;
// Up to this EDTL a READ's buffer is taken as asked (every 4 KiB command: no CDB look-up on the
// hot path). Beyond it the buffer is what the CDB transfers, within the LUN's MAXIMUM TRANSFER
// LENGTH; data-in commands without a block transfer (INQUIRY, REPORT LUNS, ...) never return
// more than this.
constexpr uint32_t kPlainBuffer = 1u << 20;

constexpr uint32_t kInvalidLun = 0xffffffff;

// SAM-5 4.7: single-level LUNs in peripheral (00b) or flat (01b) addressing.
uint64_t decode_lun(uint64_t wire) {
  uint8_t b0 = uint8_t(wire >> 56), b1 = uint8_t(wire >> 48);
  if ((wire & 0x0000ffffffffffffull) != 0) return kInvalidLun;
  switch (b0 >> 6) {
    case 0:
      return (b0 & 0x3f) == 0 ? b1 : kInvalidLun;
    case 1:
      return uint64_t(b0 & 0x3f) << 8 | b1;
    default:
      return kInvalidLun;
  }
}

scsi::TaskAttribute attribute_of(uint8_t flags) {
  switch (flags & 7) {
    case 2:
      return scsi::TaskAttribute::ordered;
    case 3:
      return scsi::TaskAttribute::head_of_queue;
    case 4:
      return scsi::TaskAttribute::aca;
    default:
      return scsi::TaskAttribute::simple;  // 0 untagged and 1 simple
  }
}

}  // namespace

void Connection::handle_scsi_command(Pdu pdu) {
  const Bhs& b = pdu.bhs;
  uint8_t flags = b.flags();
  bool read = flags & 0x40, write = flags & 0x20;
  uint32_t itt = b.itt();
  uint32_t imm = uint32_t(pdu.data.size());

  if (tasks_.count(itt)) return send_reject(b, RejectReason::task_in_progress);
  // Immediate commands take no CmdSN (RFC 7143 §3.2.2.1), so the command window does not bound
  // them: beyond the session's task limit they end at once with TASK SET FULL (SAM-5 5.3)
  // instead of each getting a task and a buffer.
  if (b.immediate() && tasks_.size() >= ctx_.config.max_tasks_per_session) {
    Task refused;
    refused.itt = itt;
    refused.lun = b.lun();
    refused.edtl = b.field32(20);
    scsi::CommandResult full;
    full.status = scsi::Status::task_set_full;
    return send_result(refused, full);
  }
  // Immediate data only when negotiated, within FirstBurstLength and EDTL (RFC 7143 §13.11).
  uint32_t edtl = b.field32(20);
  if (imm && (!write || !params_.immediate_data || imm > params_.first_burst_length || imm > edtl))
    return send_reject(b, RejectReason::protocol_error);
  if (read && write) {
    // Bidirectional commands: none of ours takes both directions.
    auto task = std::make_shared<Task>();
    task->itt = itt;
    task->lun = b.lun();
    return send_check_condition(*task, 0x05, 0x24, 0x00);  // INVALID FIELD IN CDB
  }

  auto task = std::make_shared<Task>();
  task->itt = itt;
  task->lun = b.lun();
  task->lun_id = decode_lun(b.lun());
  task->attribute = attribute_of(flags);
  task->edtl = edtl;
  task->direction = read    ? scsi::DataDirection::read
                    : write ? scsi::DataDirection::write
                            : scsi::DataDirection::none;
  task->cdb.assign(&b.b[32], &b.b[48]);
  // Extended CDB AHS (type 1): the CDB continues beyond 16 bytes (RFC 7143 §11.2.2).
  for (size_t off = 0; off + 4 <= pdu.ahs.size();) {
    uint16_t len = core::load_be16(&pdu.ahs[off]);
    uint8_t type = pdu.ahs[off + 2];
    size_t total = (size_t(len) + 3 + 3) & ~size_t(3);
    if (off + 3 + len > pdu.ahs.size()) return send_reject(b, RejectReason::protocol_error);
    if (type == 1 && len > 1)
      task->cdb.insert(task->cdb.end(), &pdu.ahs[off + 4], &pdu.ahs[off + 3 + len]);
    off += total;
  }

  if (!write) {
    if (read && edtl) {
      // Sized before the command runs (issue 8): a READ with an EDTL of 64 MiB and a transfer
      // length beyond the LUN's limit gets no buffer at all, and the SCSI layer answers INVALID
      // FIELD IN CDB in its usual order of checks.
      uint64_t size = edtl;
      if (edtl > kPlainBuffer) {
        auto bytes =
            ctx_.devices->transfer_bytes(task->lun_id, std::span<const uint8_t>(task->cdb));
        size = std::min<uint64_t>(edtl, bytes ? *bytes : kPlainBuffer);
      }
      task->buffer_size = uint32_t(size);
      if (size) task->buffer = std::make_shared_for_overwrite<std::byte[]>(size);
      // Counted at once: a READ runs now, and the read loop's own budget bounds how many do.
      task->held = task->buffer_size;
      budget_.hold(task->held);
    }
    tasks_.emplace(itt, task);
    return start_execution(task);
  }

  // Write: gather immediate, unsolicited and solicited data into one buffer, then execute.
  task->unsolicited_end =
      params_.initial_r2t ? imm : std::max(imm, std::min(edtl, params_.first_burst_length));
  task->unsolicited_next = imm;
  task->received = imm;
  task->next_r2t_offset = task->unsolicited_end;
  // A transfer length beyond the LUN's limit gets no buffer either (issue 8), like an EDTL
  // beyond what we ever buffer: its unsolicited data is absorbed, then it fails.
  // Within the limit, data beyond what the CDB writes is taken off the wire but not kept (the
  // command reports it as residual overflow), so the buffer never exceeds the limit either.
  bool over_limit = false;
  uint32_t keep = edtl;
  if (edtl > kPlainBuffer) {
    auto bytes = ctx_.devices->transfer_bytes(task->lun_id, std::span<const uint8_t>(task->cdb));
    over_limit = bytes && *bytes == 0;
    if (bytes && *bytes) keep = uint32_t(std::min<uint64_t>(edtl, *bytes));
  }
  if (edtl > kMaxBuffer || over_limit) {
    task->oversize = true;
  } else if (edtl) {
    // The whole buffer only once the write may have its R2Ts (issue 8); until then, room for
    // the data the initiator may send unasked. A write that needs no R2T is held at once: its
    // data is on its way anyway, and it runs as soon as that is in.
    task->keep = keep;
    uint32_t size = keep;
    if (task->next_r2t_offset >= edtl) {
      budget_.hold(keep);
      task->held = keep;
    } else if (budget_.admit_or_queue(itt, keep)) {
      task->held = keep;
    } else {
      task->queued = true;
      size = std::min(task->unsolicited_end, keep);
    }
    task->buffer_size = size;
    if (size) task->buffer = std::make_shared_for_overwrite<std::byte[]>(size);
    if (imm) std::memcpy(task->buffer.get(), pdu.data.data(), std::min(imm, size));
  }
  tasks_.emplace(itt, task);
  if (task->oversize) {
    if (task->received >= task->unsolicited_end) {
      forget(*task);
      send_check_condition(*task, 0x05, 0x24, 0x00);
    }
    return;
  }
  if (task->received >= edtl) return start_execution(task);
  if (!task->queued) send_r2ts(*task);
}

void Connection::forget(Task& task) {
  auto it = tasks_.find(task.itt);
  if (it != tasks_.end() && it->second.get() == &task) tasks_.erase(it);
  if (task.queued) budget_.cancel(task.itt);
  task.queued = false;
  budget_.release(task.held);
  task.held = 0;
}

void Connection::admit_writes() {
  while (auto itt = budget_.admit_next()) {
    // forget() takes every ended write out of the queue, so each queued ITT has its task.
    auto it = tasks_.find(*itt);
    if (it == tasks_.end()) continue;
    Task& task = *it->second;
    task.queued = false;
    task.held = task.keep;
    if (task.buffer_size < task.keep) {
      // What arrived unasked so far moves over: at most FirstBurstLength, and only for writes
      // that had to wait.
      auto full = std::make_shared_for_overwrite<std::byte[]>(task.keep);
      if (task.buffer_size)
        std::memcpy(full.get(), task.buffer.get(),
                    std::min(task.unsolicited_next, task.buffer_size));
      task.buffer = std::move(full);
      task.buffer_size = task.keep;
    }
    send_r2ts(task);
  }
}

void Connection::send_r2ts(Task& task) {
  while (task.bursts.size() < params_.max_outstanding_r2t && task.next_r2t_offset < task.edtl) {
    Burst burst;
    burst.ttt = next_ttt_++;
    if (next_ttt_ == kReservedTag) next_ttt_ = 1;
    burst.offset = task.next_r2t_offset;
    burst.length = std::min(params_.max_burst_length, task.edtl - task.next_r2t_offset);
    task.next_r2t_offset += burst.length;
    task.bursts.push_back(burst);
    OutPdu p;
    p.bhs = make_r2t(task.itt, task.lun, burst.ttt, task.r2t_sn++, burst.offset, burst.length);
    queue(std::move(p));
  }
}

void Connection::handle_data_out(Pdu pdu) {
  const Bhs& b = pdu.bhs;
  auto it = tasks_.find(b.itt());
  if (it == tasks_.end()) {
    // An aborted task's data may still be on its way (the initiator may not know yet: another
    // nexus's PREEMPT AND ABORT or CLEAR TASK SET); anything else is an initiator bug.
    if (std::find(recently_aborted_.begin(), recently_aborted_.end(), b.itt()) !=
        recently_aborted_.end())
      return;
    return send_reject(b, RejectReason::invalid_pdu_field);
  }
  auto task = it->second;
  if (task->direction != scsi::DataDirection::write || task->executing)
    return send_reject(b, RejectReason::protocol_error);
  uint32_t ttt = b.field32(off::kTtt);
  uint32_t offset = b.field32(40);
  // A steered payload is already in the task buffer, where the copy below would put it.
  bool in_place = steered_ != nullptr;
  uint32_t len = in_place ? b.data_segment_length() : uint32_t(pdu.data.size());
  if (uint64_t(offset) + len > task->edtl) return send_reject(b, RejectReason::protocol_error);

  uint32_t data_sn = b.field32(36);
  // RFC 7143 §11.7.5: DataSN counts the Data-Out PDUs of each sequence from 0. A gap or a
  // repeat means lost or reordered data, which ERL 0 cannot recover: the PDU is rejected and
  // the command ends with ABORTED COMMAND / DATA PHASE ERROR, so the initiator retries it on the
  // same connection instead of writing a hole.
  auto sequence_error = [&] {
    send_reject(b, RejectReason::protocol_error);
    uint64_t dropped = 0;
    if (log_limit_.allow(dropped))
      log_->warn("{}: Data-Out DataSN {} out of sequence for ITT 0x{:x}, command failed", peer_,
                 data_sn, task->itt);
    forget(*task);
    admit_writes();
    send_check_condition(*task, 0x0b, 0x4b, 0x00);
  };
  if (ttt == kReservedTag) {
    // Unsolicited data: only up to FirstBurstLength, in order (DataPDUInOrder=Yes).
    if (offset != task->unsolicited_next || offset + len > task->unsolicited_end)
      return send_reject(b, RejectReason::protocol_error);
    if (data_sn != task->unsolicited_data_sn) return sequence_error();
    ++task->unsolicited_data_sn;
    task->unsolicited_next += len;
  } else {
    auto burst = std::find_if(task->bursts.begin(), task->bursts.end(),
                              [ttt](const Burst& x) { return x.ttt == ttt; });
    if (burst == task->bursts.end()) return send_reject(b, RejectReason::invalid_pdu_field);
    if (offset != burst->offset + burst->received || burst->received + len > burst->length)
      return send_reject(b, RejectReason::protocol_error);
    if (data_sn != burst->data_sn) return sequence_error();
    ++burst->data_sn;
    burst->received += len;
    if (burst->received == burst->length) task->bursts.erase(burst);
  }
  if (len && task->buffer && offset < task->buffer_size && !in_place)
    std::memcpy(task->buffer.get() + offset, pdu.data.data(),
                std::min(len, task->buffer_size - offset));
  task->received += len;

  if (task->oversize) {
    if (task->received >= task->unsolicited_end) {
      forget(*task);
      send_check_condition(*task, 0x05, 0x24, 0x00);
    }
    return;
  }
  if (task->received >= task->edtl) return start_execution(task);
  if (!task->queued) send_r2ts(*task);
}

std::span<std::byte> Connection::data_out_target(const Bhs& b) const {
  // The same checks handle_data_out() makes, in the state it will see: nothing runs between
  // the header and the end of the payload but other coroutines of this strand, and those only
  // end tasks (then the data is dropped, and steered_ keeps the buffer alive till then).
  auto it = tasks_.find(b.itt());
  if (it == tasks_.end()) return {};
  const Task& t = *it->second;
  if (t.direction != scsi::DataDirection::write || t.executing || t.oversize || t.queued ||
      !t.buffer)
    return {};
  uint32_t offset = b.field32(40), len = b.data_segment_length(), data_sn = b.field32(36);
  uint32_t ttt = b.field32(off::kTtt);
  if (uint64_t(offset) + len > t.buffer_size) return {};  // also past EDTL, or not kept
  if (ttt == kReservedTag) {
    if (offset != t.unsolicited_next || offset + len > t.unsolicited_end ||
        data_sn != t.unsolicited_data_sn)
      return {};
  } else {
    auto burst = std::find_if(t.bursts.begin(), t.bursts.end(),
                              [ttt](const Burst& x) { return x.ttt == ttt; });
    if (burst == t.bursts.end() || offset != burst->offset + burst->received ||
        burst->received + len > burst->length || data_sn != burst->data_sn)
      return {};
  }
  return std::span<std::byte>(t.buffer.get() + offset, len);
}

bool Connection::over_buffer_budget() const {
  return executing_bytes_ > kTaskBufferBudget;
}

void Connection::start_execution(const std::shared_ptr<Task>& task) {
  task->executing = true;
  task->started = std::chrono::steady_clock::now();
  executing_bytes_ += task->buffer_size;
  asio::co_spawn(strand_, execute(task), asio::detached);
}

awaitable<void> Connection::execute(std::shared_ptr<Task> task) {
  auto self = shared_from_this();
  scsi::Command cmd;
  cmd.nexus = nexus_;
  cmd.lun = task->lun_id;
  cmd.task_tag = task->itt;
  cmd.cdb = std::span<const uint8_t>(task->cdb);
  cmd.attribute = task->attribute;
  cmd.expected_transfer_length = task->edtl;
  cmd.direction = task->direction;
  if (task->direction == scsi::DataDirection::write)
    cmd.data_out = std::span<const std::byte>(
        task->buffer.get(), task->buffer ? std::min(task->received, task->buffer_size) : 0);
  else if (task->direction == scsi::DataDirection::read)
    cmd.data_in = std::span<std::byte>(task->buffer.get(), task->buffer_size);
  scsi::CommandResult result = co_await ctx_.devices->execute(cmd);
  // The buffer leaves the budgets here; queued Data-In keeps it alive under the output marks.
  forget(*task);
  executing_bytes_ -= task->buffer_size;
  admit_writes();
  if (reading_paused_ && !must_pause(kOutputLowWater)) drained_.cancel();
  if (task->aborted || closing_) co_return;
  send_result(*task, result);
}

void Connection::send_result(Task& task, const scsi::CommandResult& result) {
  // Residuals (RFC 7143 §11.4.5): compare what the command transferred, or wanted to, with EDTL.
  uint32_t moved = task.direction == scsi::DataDirection::read    ? result.data_in_length
                   : task.direction == scsi::DataDirection::write ? task.received
                                                                  : 0;
  uint32_t wanted = result.full_length ? result.full_length : moved;
  Residual residual;
  if (wanted > task.edtl) {
    residual.overflow = true;
    residual.count = wanted - task.edtl;
  } else if (wanted < task.edtl) {
    residual.underflow = true;
    residual.count = task.edtl - wanted;
  }
  uint8_t status = uint8_t(result.status);
  uint32_t data_sn = 0;
  uint32_t length = std::min(result.data_in_length, task.buffer_size);
  if (task.direction == scsi::DataDirection::read && length) {
    // Data-In, segmented by the initiator's MaxRecvDataSegmentLength, F at the end of every
    // MaxBurstLength sequence, status in the last PDU when there is no sense to carry.
    bool status_in_data = result.sense.empty();
    uint32_t seg = params_.initiator_max_recv_data_segment_length;
    uint32_t burst = params_.max_burst_length;
    std::shared_ptr<const std::byte[]> keep = task.buffer;
    for (uint32_t off = 0; off < length;) {
      uint32_t burst_end = std::min(length, (off / burst + 1) * burst);
      uint32_t n = std::min(seg, burst_end - off);
      bool last = off + n == length;
      OutPdu p;
      p.bhs = make_data_in(task.itt, task.lun, data_sn++, off, n, last || off + n == burst_end,
                           last && status_in_data, status, residual);
      p.keep = keep;
      p.data = std::span<const std::byte>(task.buffer.get() + off, n);
      queue(std::move(p));
      off += n;
    }
    if (status_in_data) return;
  }
  OutPdu p;
  if (!result.sense.empty()) {
    // Data segment: SenseLength (2 bytes) then the sense data (RFC 7143 §11.4.7).
    p.owned.resize(2 + result.sense.size());
    core::store_be16(reinterpret_cast<uint8_t*>(p.owned.data()), uint16_t(result.sense.size()));
    std::memcpy(p.owned.data() + 2, result.sense.data(), result.sense.size());
  }
  uint32_t exp_data_sn = task.direction == scsi::DataDirection::write ? task.r2t_sn : data_sn;
  p.bhs = make_scsi_response(task.itt, status, residual, exp_data_sn, uint32_t(p.owned.size()));
  queue(std::move(p));
}

void Connection::send_check_condition(Task& task, uint8_t key, uint8_t asc, uint8_t ascq) {
  scsi::CommandResult r;
  r.status = scsi::Status::check_condition;
  // Fixed format sense (SPC-4 4.5.3): the transport only builds it for commands it refuses
  // before the SCSI layer sees them.
  r.sense = {0x70, 0, key, 0, 0, 0, 0, 10, 0, 0, 0, 0, asc, ascq, 0, 0, 0, 0};
  task.direction = scsi::DataDirection::none;
  send_result(task, r);
}

// ---------------------------------------------------------------------------------------------
// Task management (RFC 7143 §11.5)

std::vector<std::shared_ptr<Connection::Task>> Connection::abort_tasks(
    std::optional<uint64_t> lun, std::optional<uint32_t> spare_itt) {
  std::vector<std::shared_ptr<Task>> running, waiting;
  for (auto& [itt, t] : tasks_) {
    if ((lun && t->lun_id != *lun) || (spare_itt && t->itt == *spare_itt)) continue;
    t->aborted = true;
    (t->executing ? running : waiting).push_back(t);
  }
  // Still waiting for Data-Out (or for budget): nothing runs, just forget it (and its late
  // data). Writes queued behind them may now fit.
  for (auto& t : waiting) {
    remember_aborted(t->itt);
    forget(*t);
  }
  admit_writes();
  return running;
}

awaitable<void> Connection::wait_for_tasks(std::vector<std::shared_ptr<Task>> tasks) {
  // Device I/O cannot be cancelled half way; an aborted task ends when its I/O does. Storage
  // calls are bounded, so this wait is too, and the deadline keeps a stuck device from
  // holding the TMF response forever.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  asio::steady_timer t(strand_);
  for (auto& task : tasks) {
    while (tasks_.count(task->itt) && tasks_.at(task->itt) == task &&
           std::chrono::steady_clock::now() < deadline) {
      t.expires_after(std::chrono::milliseconds(1));
      co_await t.async_wait(use_awaitable);
    }
  }
}

void Connection::remember_aborted(uint32_t itt) {
  recently_aborted_.push_back(itt);
  if (recently_aborted_.size() > kRecentlyAbortedKept) recently_aborted_.pop_front();
}

awaitable<bool> Connection::abort_and_wait(std::optional<uint64_t> lun,
                                           std::optional<uint32_t> spare_itt) {
  auto self = shared_from_this();
  bool any = false;
  for (const auto& [itt, t] : tasks_)
    if ((!lun || t->lun_id == *lun) && !(spare_itt && itt == *spare_itt) && !t->aborted) any = true;
  auto running = abort_tasks(lun, spare_itt);
  co_await wait_for_tasks(std::move(running));
  co_return any;
}

awaitable<std::vector<uint64_t>> Connection::abort_everywhere(std::optional<uint64_t> lun) {
  scsi::TaskSets::AbortRequest req;
  req.lun = lun;
  std::vector<uint64_t> hit = co_await ctx_.task_sets.abort(std::move(req));
  co_return hit;
}

void Connection::handle_tmf(const Pdu& pdu) {
  asio::co_spawn(strand_, run_tmf(std::make_shared<const Pdu>(pdu)), asio::detached);
}

awaitable<void> Connection::run_tmf(std::shared_ptr<const Pdu> pdu) {
  auto self = shared_from_this();
  const Bhs& b = pdu->bhs;
  auto fn = scsi::TmfFunction(b.flags() & 0x7f);
  uint64_t lun = decode_lun(b.lun());
  TmfResponse resp = TmfResponse::function_complete;
  using F = scsi::TmfFunction;
  switch (fn) {
    case F::abort_task: {
      uint32_t rtt = b.field32(20);
      uint32_t ref_cmd_sn = b.field32(32);
      auto it = tasks_.find(rtt);
      if (it != tasks_.end()) {
        auto task = it->second;
        task->aborted = true;
        if (task->executing) {
          // Not `wait_for_tasks({task})`: GCC 12 miscompiles initializer lists in co_await.
          std::vector<std::shared_ptr<Task>> one(1, task);
          co_await wait_for_tasks(std::move(one));
        } else {
          remember_aborted(rtt);
          forget(*task);
          admit_writes();
        }
      } else {
        // RFC 7143 §11.5.1 b/c: a RefCmdSN inside the window and before this TMF names a
        // command that never arrived; it counts as received and aborted ("function complete").
        // Anything else (a command that already completed, below ExpCmdSN) does not exist.
        uint32_t tmf_cmd_sn = b.field32(off::kCmdSn);
        bool in_window = sn_le(window_.exp_cmd_sn(), ref_cmd_sn) &&
                         sn_le(ref_cmd_sn, window_.max_cmd_sn()) && sn_lt(ref_cmd_sn, tmf_cmd_sn);
        if (!in_window) resp = TmfResponse::task_does_not_exist;
      }
      break;
    }
    case F::abort_task_set:
      // Only this nexus's tasks (SAM-5 7.3).
      if (!ctx_.devices->lun_exists(lun)) {
        resp = TmfResponse::lun_does_not_exist;
        break;
      }
      {
        // Named first: GCC 12 destroys temporaries in a co_await expression twice.
        auto aborted = abort_tasks(lun);
        co_await wait_for_tasks(std::move(aborted));
      }
      break;
    case F::clear_task_set:
      // One task set per logical unit (Control mode page TST=0): every nexus's tasks go, and
      // the others are told by a unit attention (SAM-5 7.5, TAS=0).
      if (!ctx_.devices->lun_exists(lun)) {
        resp = TmfResponse::lun_does_not_exist;
        break;
      }
      {
        std::vector<uint64_t> hit = co_await abort_everywhere(lun);
        std::erase(hit, nexus_->id);
        ctx_.devices->commands_cleared(lun, hit);
      }
      break;
    case F::logical_unit_reset:
      // SAM-5 7.7: every task of the logical unit, from every nexus, ends before the reset.
      if (!ctx_.devices->lun_exists(lun)) {
        resp = TmfResponse::lun_does_not_exist;
        break;
      }
      {
        // Named: GCC 12 destroys temporaries in a co_await expression twice.
        std::vector<uint64_t> hit = co_await abort_everywhere(lun);
      }
      resp = ctx_.devices->logical_unit_reset(*nexus_, lun);
      break;
    case F::target_warm_reset:
    case F::target_cold_reset: {
      // Named: GCC 12 destroys temporaries in a co_await expression twice.
      std::optional<uint64_t> every_lun;
      std::vector<uint64_t> hit = co_await abort_everywhere(every_lun);
    }
      resp = ctx_.devices->target_reset(*nexus_, fn);
      break;
    case F::clear_aca:
      resp = TmfResponse::function_not_supported;
      break;
    case F::task_reassign:
      resp = TmfResponse::task_reassign_not_supported;
      break;
    default:
      resp = TmfResponse::function_rejected;
      break;
  }
  OutPdu p;
  p.bhs = make_tmf_response(b.itt(), uint8_t(resp));
  queue(std::move(p));
  if (fn == F::target_cold_reset && resp == TmfResponse::function_complete) {
    // SAM-5: a cold reset drops every I_T nexus; the response goes out first.
    for (auto& c : ctx_.sessions.all())
      if (c.get() != this) c->close();
    closing_ = true;
    boost::system::error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_receive, ec);
  }
}

}  // namespace swiftness::iscsi
