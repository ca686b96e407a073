#include "tests/bench/iscsi/rwverify_runner.hpp"

#include <sys/uio.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

namespace swiftness::bench {

// One command slot. Its buffer lives as long as the runner: libiscsi does not copy write data
// and reads land directly in `iov`, so both must stay valid until the command completes.
struct Runner::Slot {
  Runner* runner = nullptr;
  std::unique_ptr<std::byte[], decltype(&std::free)> buffer{nullptr, &std::free};
  scsi_iovec iov{};
  scsi_task* task = nullptr;
  PlannedIo io;
  size_t plan_index = 0;
  bool is_write = false;
  bool is_sync = false;
};

Runner::Runner(std::unique_ptr<IscsiSession> session, const RunnerOptions& opts,
               BlockPattern pattern, uint32_t max_blocks)
    : session_(std::move(session)), opts_(opts), pattern_(pattern) {
  const size_t bytes = size_t{max_blocks} * pattern.block_size();
  for (int i = 0; i < opts.qd; ++i) {
    auto s = std::make_unique<Slot>();
    s->runner = this;
    void* p = nullptr;
    if (posix_memalign(&p, 4096, bytes) != 0) std::abort();
    s->buffer.reset(static_cast<std::byte*>(p));
    slots_.push_back(std::move(s));
  }
  sync_slot_ = std::make_unique<Slot>();
  sync_slot_->runner = this;
  sync_slot_->is_sync = true;
}

Runner::~Runner() {
  failed_ = true;  // nothing is resubmitted from the cancellation callbacks
  session_.reset();
}

bool Runner::write(const std::vector<PlannedIo>& plan) {
  if (ack_plan_ != &plan) {
    ack_plan_ = &plan;
    acked_.assign(plan.size(), false);
    completed_unsynced_.clear();
  }
  return run(plan, /*is_write=*/true);
}

bool Runner::read_and_verify(const std::vector<PlannedIo>& plan) {
  return run(plan, /*is_write=*/false);
}

bool Runner::run(const std::vector<PlannedIo>& plan, bool is_write) {
  plan_ = &plan;
  next_ = 0;
  is_write_ = is_write;
  for (auto& s : slots_) {
    if (!submit_next(*s)) break;
  }
  return drain();
}

bool Runner::synchronize_cache() {
  if (!drain()) return false;  // a periodic sync may still be in flight
  return issue_sync() && drain();
}

bool Runner::issue_sync() {
  Slot& s = *sync_slot_;
  // What this sync makes durable: the writes that completed before it is sent.
  syncing_ = std::move(completed_unsynced_);
  completed_unsynced_.clear();
  writes_since_sync_ = 0;
  s.task = iscsi_synchronizecache10_task(session_->ctx(), session_->lun(), 0, 0, 0, 0,
                                         &Runner::on_complete, &s);
  if (s.task == nullptr) {
    fail(fmt::format("SYNCHRONIZE CACHE (10): cannot queue: {}", session_->last_error()));
    return false;
  }
  sync_in_flight_ = true;
  ++outstanding_;
  return true;
}

void Runner::on_complete(iscsi_context* ctx, int status, void* /*command_data*/, void* priv) {
  auto* slot = static_cast<Slot*>(priv);
  slot->runner->complete(ctx, *slot, status);
}

bool Runner::submit_next(Slot& s) {
  if (failed_ || next_ >= plan_->size()) return false;
  s.plan_index = next_++;
  s.io = (*plan_)[s.plan_index];
  s.is_write = is_write_;
  const uint32_t bs = pattern_.block_size();
  const uint32_t len = s.io.blocks * bs;
  iscsi_context* ctx = session_->ctx();
  const int lun = session_->lun();
  if (is_write_) {
    pattern_.fill(s.io.lba, {s.buffer.get(), len});
    auto* data = reinterpret_cast<unsigned char*>(s.buffer.get());
    s.task = s.io.use16 ? iscsi_write16_task(ctx, lun, s.io.lba, data, len, bs, 0, 0, s.io.fua, 0,
                                             0, &Runner::on_complete, &s)
                        : iscsi_write10_task(ctx, lun, static_cast<uint32_t>(s.io.lba), data, len,
                                             bs, 0, 0, s.io.fua, 0, 0, &Runner::on_complete, &s);
  } else {
    // Poison the buffer so a short or missing Data-In cannot pass for earlier contents.
    std::memset(s.buffer.get(), 0xa5, len);
    s.iov.iov_base = s.buffer.get();
    s.iov.iov_len = len;
    s.task = s.io.use16 ? iscsi_read16_iov_task(ctx, lun, s.io.lba, len, bs, 0, 0, 0, 0, 0,
                                                &Runner::on_complete, &s, &s.iov, 1)
                        : iscsi_read10_iov_task(ctx, lun, static_cast<uint32_t>(s.io.lba), len, bs,
                                                0, 0, 0, 0, 0, &Runner::on_complete, &s, &s.iov, 1);
  }
  if (s.task == nullptr) {
    fail(fmt::format("{}: cannot queue: {}", op_name(s), session_->last_error()));
    return false;
  }
  ++outstanding_;
  return true;
}

void Runner::complete(iscsi_context* ctx, Slot& s, int status) {
  --outstanding_;
  scsi_task* task = s.task;
  s.task = nullptr;
  if (s.is_sync) {
    sync_in_flight_ = false;
    if (status != SCSI_STATUS_GOOD) {
      fail(fmt::format("{}: {}", op_name(s), describe_failure(ctx, status, task)));
    } else {
      ++syncs_;
      for (size_t index : syncing_)
        mark_durable(index);
    }
    syncing_.clear();
    if (task != nullptr) scsi_free_scsi_task(task);
    return;
  }
  if (status != SCSI_STATUS_GOOD) {
    fail(fmt::format("{}: {}", op_name(s), describe_failure(ctx, status, task)));
  } else {
    const uint32_t len = s.io.blocks * pattern_.block_size();
    if (task->residual_status != SCSI_RESIDUAL_NO_RESIDUAL) {
      fail(fmt::format(
          "{}: unexpected residual {} of {} bytes ({})", op_name(s), task->residual, len,
          task->residual_status == SCSI_RESIDUAL_UNDERFLOW ? "underflow" : "overflow"));
    } else {
      ++commands_;
      bytes_ += len;
      ++(s.io.use16 ? count16_ : count10_);
      if (s.is_write) {
        if (s.io.fua) {
          ++count_fua_;
          mark_durable(s.plan_index);  // SBC-3 5.40: FUA = on the medium before GOOD status
        } else {
          completed_unsynced_.push_back(s.plan_index);
        }
        ++writes_since_sync_;
      } else {
        check(s);
      }
    }
  }
  if (task != nullptr) scsi_free_scsi_task(task);
  if (s.is_write && opts_.sync_every != 0 && writes_since_sync_ >= opts_.sync_every &&
      !sync_in_flight_ && !failed_) {
    issue_sync();
  }
  submit_next(s);
}

void Runner::mark_durable(size_t plan_index) {
  if (opts_.ack_log == nullptr || ack_plan_ == nullptr || acked_[plan_index]) return;
  acked_[plan_index] = true;
  const PlannedIo& io = (*ack_plan_)[plan_index];
  if (!opts_.ack_log->append(io.lba, io.blocks)) fail("--ack-log: write failed");
}

void Runner::check(const Slot& s) {
  const uint32_t bs = pattern_.block_size();
  for (uint32_t i = 0; i < s.io.blocks; ++i) {
    std::span<const std::byte> block{s.buffer.get() + size_t{i} * bs, bs};
    uint64_t bad_lba = 0;
    std::string detail;
    if (pattern_.verify(s.io.lba + i, block, &bad_lba, &detail) == 0) continue;
    if (bad_blocks_ < static_cast<uint64_t>(opts_.max_report)) {
      std::fprintf(stderr, "iscsi-rwverify: MISMATCH (%s) %s\n", op_name(s).c_str(),
                   detail.c_str());
    }
    ++bad_blocks_;
  }
}

bool Runner::drain() {
  std::string error;
  while (outstanding_ > 0) {
    if (!session_->service(1000, &error)) {
      fail(error);
      return false;
    }
    // Shows the target really had qd commands at once (libiscsi holds back what the target's
    // CmdSN window does not admit).
    peak_in_flight_ = std::max(peak_in_flight_, session_->awaiting_response());
  }
  return !failed_;
}

void Runner::fail(const std::string& message) {
  if (!failed_) std::fprintf(stderr, "iscsi-rwverify: FAILED %s\n", message.c_str());
  failed_ = true;
}

std::string Runner::op_name(const Slot& s) const {
  if (s.is_sync) return "SYNCHRONIZE CACHE (10)";
  return fmt::format("{} ({}){} LBA {} blocks {}", s.is_write ? "WRITE" : "READ",
                     s.io.use16 ? 16 : 10, s.is_write && s.io.fua ? " FUA" : "", s.io.lba,
                     s.io.blocks);
}

}  // namespace swiftness::bench
