#include "tests/soak/lun_reader.hpp"

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include <algorithm>
#include <span>

#include "tests/bench/iscsi/iscsi_session.hpp"
#include "tests/soak/block_model.hpp"

namespace swiftness::soak {

std::optional<RangeSeeds> read_seeds(const std::string& url, uint64_t first_lba, uint64_t blocks,
                                     std::string* error) {
  bench::ConnectOptions opts;
  opts.url = url;
  opts.initiator_name = "iqn.2026-11.io.swiftness:soak-reader";
  opts.timeout_s = 30;
  auto session = bench::IscsiSession::connect(opts, error);
  if (!session) return std::nullopt;
  RangeSeeds out;
  out.block_size = session->block_size();
  out.seeds.reserve(blocks);
  const uint64_t step = std::max<uint64_t>(1, (1u << 20) / out.block_size);
  for (uint64_t lba = first_lba; lba < first_lba + blocks; lba += step) {
    const uint64_t n = std::min(step, first_lba + blocks - lba);
    scsi_task* task =
        iscsi_read16_sync(session->ctx(), session->lun(), lba, uint32_t(n * out.block_size),
                          out.block_size, 0, 0, 0, 0, 0);
    if (task == nullptr || task->status != SCSI_STATUS_GOOD ||
        uint64_t(task->datain.size) != n * out.block_size) {
      *error = "READ (16) at LBA " + std::to_string(lba) + ": " +
               bench::describe_failure(session->ctx(), task ? task->status : -1, task);
      if (task) scsi_free_scsi_task(task);
      return std::nullopt;
    }
    const auto* data = reinterpret_cast<const std::byte*>(task->datain.data);
    for (uint64_t i = 0; i < n; ++i) {
      out.seeds.push_back(
          block_seed(lba + i, std::span(data + i * out.block_size, out.block_size)));
    }
    scsi_free_scsi_task(task);
  }
  (void)session->logout(error);
  return out;
}

}  // namespace swiftness::soak
