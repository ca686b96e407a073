// A libiscsi initiator for the daemon tests: one session to one LUN, REPORT LUNS, and a load
// that writes, reads back and compares blocks until told to stop. Like the Linux and Windows
// disk drivers, the load retries a command that ends in UNIT ATTENTION (SAM-5 5.14: the command
// did not run) and counts those separately from real errors.
#pragma once

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace swiftness::testing {

class IscsiClient {
 public:
  // nullptr (and `error`) if the login fails.
  static std::unique_ptr<IscsiClient> connect(
      const std::string& portal, const std::string& iqn, int lun, std::string* error,
      const std::string& initiator = "iqn.2026-11.io.swiftness:test-initiator",
      const std::string& user = "", const std::string& secret = "") {
    std::unique_ptr<IscsiClient> c(new IscsiClient);
    c->lun_ = lun;
    c->ctx_ = iscsi_create_context(initiator.c_str());
    if (!c->ctx_) {
      *error = "iscsi_create_context failed";
      return nullptr;
    }
    iscsi_set_targetname(c->ctx_, iqn.c_str());
    iscsi_set_session_type(c->ctx_, ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(c->ctx_, ISCSI_HEADER_DIGEST_NONE);
    iscsi_set_timeout(c->ctx_, 30);
    // A dropped connection is an error to report, not something to hide by reconnecting (and
    // a logout after the daemon stopped must fail at once instead of retrying).
    iscsi_set_noautoreconnect(c->ctx_, 1);
    if (!user.empty()) iscsi_set_initiator_username_pwd(c->ctx_, user.c_str(), secret.c_str());
    if (iscsi_full_connect_sync(c->ctx_, portal.c_str(), lun) != 0) {
      *error = iscsi_get_error(c->ctx_);
      return nullptr;
    }
    return c;
  }
  ~IscsiClient() {
    if (ctx_) {
      iscsi_logout_sync(ctx_);
      iscsi_destroy_context(ctx_);
    }
  }

  // The LUN numbers REPORT LUNS returns; nullopt on failure.
  std::optional<std::vector<uint64_t>> report_luns() {
    for (int attempt = 0; attempt < 5; ++attempt) {
      scsi_task* t = iscsi_reportluns_sync(ctx_, 0, 16384);
      if (!t) return std::nullopt;
      if (t->status == SCSI_STATUS_CHECK_CONDITION && t->sense.key == SCSI_SENSE_UNIT_ATTENTION) {
        scsi_free_scsi_task(t);
        continue;
      }
      std::optional<std::vector<uint64_t>> out;
      if (t->status == SCSI_STATUS_GOOD) {
        auto* list = static_cast<scsi_reportluns_list*>(scsi_datain_unmarshall(t));
        if (list) {
          out.emplace();
          for (uint32_t i = 0; i < list->num; ++i)
            out->push_back(list->luns[i]);
        }
      }
      scsi_free_scsi_task(t);
      return out;
    }
    return std::nullopt;
  }

  struct Outcome {
    bool ok = false;
    bool unit_attention = false;
    int asc_ascq = 0;  // of the unit attention
    std::string error;
  };
  // One WRITE (16) or READ (16) of `buf.size()` bytes at `lba` (512-byte blocks).
  Outcome io(bool write, uint64_t lba, std::vector<uint8_t>& buf) {
    scsi_task* t =
        write ? iscsi_write16_sync(ctx_, lun_, lba, buf.data(), uint32_t(buf.size()), 512, 0, 0, 0,
                                   0, 0)
              : iscsi_read16_sync(ctx_, lun_, lba, uint32_t(buf.size()), 512, 0, 0, 0, 0, 0);
    return outcome(t, write, &buf);
  }

  // TEST UNIT READY, answered as it comes (no retry): unit-attention tests look at the first
  // command after an event.
  Outcome test_unit_ready() { return outcome(iscsi_testunitready_sync(ctx_, lun_), false, {}); }

  // READ CAPACITY (16): the number of logical blocks, or nullopt (and why in `o`).
  std::optional<uint64_t> read_capacity(Outcome* o = nullptr) {
    scsi_task* t = iscsi_readcapacity16_sync(ctx_, lun_);
    std::optional<uint64_t> blocks;
    if (t && t->status == SCSI_STATUS_GOOD) {
      if (auto* rc = static_cast<scsi_readcapacity16*>(scsi_datain_unmarshall(t)))
        blocks = rc->returned_lba + 1;
    }
    Outcome got = outcome(t, false, {});
    if (o) *o = got;
    return blocks;
  }

 private:
  // Frees `t`.
  Outcome outcome(scsi_task* t, bool write, std::vector<uint8_t>* buf) {
    Outcome o;
    if (!t) {
      o.error = std::string("no task: ") + iscsi_get_error(ctx_);
      return o;
    }
    if (t->status == SCSI_STATUS_GOOD) {
      o.ok = true;
      if (!write && buf) {
        if (t->datain.size != int(buf->size())) {
          o.ok = false;
          o.error = "short read";
        } else {
          std::memcpy(buf->data(), t->datain.data, buf->size());
        }
      }
    } else if (t->status == SCSI_STATUS_CHECK_CONDITION &&
               t->sense.key == SCSI_SENSE_UNIT_ATTENTION) {
      o.unit_attention = true;
      o.asc_ascq = t->sense.ascq;
    } else {
      o.error = "status " + std::to_string(t->status) + " sense key " +
                std::to_string(t->sense.key) + " asc/ascq " + std::to_string(t->sense.ascq) + " " +
                iscsi_get_error(ctx_);
    }
    scsi_free_scsi_task(t);
    return o;
  }

  IscsiClient() = default;
  iscsi_context* ctx_ = nullptr;
  int lun_ = 0;
};

// Writes a block pattern at random LBAs of [0, blocks) and reads each back, until stop().
class VerifyingLoad {
 public:
  VerifyingLoad(std::unique_ptr<IscsiClient> c, uint64_t blocks)
      : client_(std::move(c)), blocks_(blocks) {
    thread_ = std::thread([this] { run(); });
  }
  ~VerifyingLoad() { stop(); }
  // Stops and logs out (call it while the target still runs).
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    client_.reset();
  }
  uint64_t ops() const { return ops_.load(); }
  // Failures other than a unit attention; the first one's text.
  uint64_t errors() const { return errors_.load(); }
  const std::string& first_error() const { return first_error_; }
  // Unit attentions seen, by ASC/ASCQ (libiscsi packs them: ASC << 8 | ASCQ).
  std::map<int, int> unit_attentions() const { return uas_; }

 private:
  bool attempt(bool write, uint64_t lba, std::vector<uint8_t>& buf) {
    for (int tries = 0; tries < 5; ++tries) {
      auto o = client_->io(write, lba, buf);
      if (o.ok) return true;
      if (o.unit_attention) {
        ++uas_[o.asc_ascq];
        continue;  // the command did not run: send it again
      }
      if (!errors_++) first_error_ = o.error;
      return false;
    }
    if (!errors_++) first_error_ = "unit attention 5 times in a row";
    return false;
  }
  void run() {
    std::mt19937_64 rng(42);
    std::vector<uint8_t> w(4096), r(4096);
    while (!stop_ && errors_ == 0) {
      uint64_t lba = (rng() % (blocks_ / 8)) * 8;
      for (size_t i = 0; i < w.size(); ++i)
        w[i] = uint8_t(rng());
      if (!attempt(true, lba, w)) break;
      if (!attempt(false, lba, r)) break;
      if (r != w) {
        if (!errors_++) first_error_ = "data mismatch at LBA " + std::to_string(lba);
        break;
      }
      ++ops_;
    }
  }

  std::unique_ptr<IscsiClient> client_;
  uint64_t blocks_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> ops_{0}, errors_{0};
  std::string first_error_;
  std::map<int, int> uas_;
  std::thread thread_;
};

}  // namespace swiftness::testing
