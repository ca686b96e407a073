// CDB decoding and dispatch: sequences of commands from two initiators through the device
// server's command table onto a RAM block device, as the iSCSI layer hands them over. Input per
// command: [flags][cdb length][16-byte CDB][u24 EDTL][data-out bytes]; flags bit 0 picks the
// nexus, bits 1-2 the direction, bit 3 LUN 1 (absent). Checks the transport contract: no more
// data-in than the buffer holds, sense data exactly with CHECK CONDITION.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>

#include "core/log.hpp"
#include "target/scsi/logical_unit.hpp"
#include "target/scsi/sense.hpp"
#include "target/storage/ram_block_device.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using namespace swiftness;
using namespace swiftness::scsi;

namespace {

constexpr uint32_t kMaxBuffer = 256 * 1024;  // keeps executions fast; EDTL may exceed it

std::shared_ptr<Nexus> nexus(uint64_t id, const char* name, uint8_t isid) {
  auto n = std::make_shared<Nexus>();
  n->id = id;
  n->initiator_name = name;
  n->isid = {0x40, 0, 1, 0x37, 0, isid};
  n->target_name = "iqn.2026-11.io.swiftness:fuzz";
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  core::set_log_level("off");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  auto dev = std::make_shared<storage::RamBlockDevice>(512, 256, true);
  LogicalUnitSpec spec;
  spec.lun = 0;
  spec.device = dev;
  spec.product = "Fuzz LUN";
  spec.serial = "FUZZ0001";
  spec.naa_id = {0x60, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  std::vector<LogicalUnitSpec> lus;
  lus.push_back(spec);
  auto server = make_device_server("iqn.2026-11.io.swiftness:fuzz", std::move(lus));
  std::shared_ptr<Nexus> nexuses[2] = {nexus(1, "iqn.2026-11.org.example:a", 1),
                                       nexus(2, "iqn.2026-11.org.example:b", 2)};
  server->nexus_added(nexuses[0]);
  server->nexus_added(nexuses[1]);

  boost::asio::io_context io;
  std::vector<std::byte> buffer;
  for (int i = 0; i < 8 && !in.empty(); ++i) {
    uint8_t flags = in.u8();
    size_t cdb_len = std::clamp<size_t>(in.u8(), 6, 16);
    std::vector<uint8_t> cdb(16, 0);
    auto c = in.bytes(16);
    std::copy(c.begin(), c.end(), cdb.begin());
    cdb.resize(cdb_len);
    uint32_t edtl = uint32_t(in.u8()) << 16 | in.u16();

    Command cmd;
    cmd.nexus = nexuses[flags & 1];
    cmd.lun = flags & 8 ? 1 : 0;
    cmd.cdb = cdb;
    cmd.expected_transfer_length = edtl;
    cmd.attribute = TaskAttribute((flags >> 4) & 3);
    switch ((flags >> 1) & 3) {
      case 1:
        cmd.direction = DataDirection::read;
        buffer.assign(std::min(edtl, kMaxBuffer), std::byte{0xee});
        cmd.data_in = buffer;
        break;
      case 2: {
        // The transport executes a write once all EDTL bytes arrived, and refuses larger ones.
        if (edtl > kMaxBuffer) continue;
        cmd.direction = DataDirection::write;
        auto d = in.bytes(edtl);
        buffer.assign(edtl, std::byte{0});
        if (!d.empty()) std::memcpy(buffer.data(), d.data(), d.size());
        cmd.data_out = buffer;
        break;
      }
      default:
        cmd.direction = DataDirection::none;
        buffer.clear();
        break;
    }

    std::optional<CommandResult> res;
    boost::asio::co_spawn(io, server->execute(cmd), [&res](std::exception_ptr e, CommandResult r) {
      FUZZ_CHECK(!e);  // execute() never throws
      res = std::move(r);
    });
    io.restart();
    io.run();
    FUZZ_CHECK(res.has_value());
    FUZZ_CHECK(res->data_in_length <= cmd.data_in.size());
    FUZZ_CHECK((res->status == Status::check_condition) == !res->sense.empty());
    if (!res->sense.empty()) FUZZ_CHECK(parse_sense(res->sense).has_value());
  }
  return 0;
}
