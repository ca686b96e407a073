// Drives DeviceServer::execute() with a RamBlockDevice inside an io_context, the way the iSCSI
// layer does, and checks outcomes like libiscsi's EXPECT_* macros.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "target/scsi/logical_unit.hpp"
#include "target/scsi/sense.hpp"
#include "target/storage/ram_block_device.hpp"

namespace swiftness::scsi::test {

// Wraps a device so every operation first yields to the executor: other commands run in
// between, as they would while a real device is busy (makes races between commands visible).
class YieldingDevice final : public core::BlockDevice {
 public:
  explicit YieldingDevice(std::shared_ptr<core::BlockDevice> inner) : inner_(std::move(inner)) {}
  core::BlockGeometry geometry() const override { return inner_->geometry(); }
  boost::asio::awaitable<core::Result<void>> read(core::Lba lba,
                                                  std::span<std::byte> buf) override {
    co_await yield();
    co_return co_await inner_->read(lba, buf);
  }
  boost::asio::awaitable<core::Result<void>> write(core::Lba lba, std::span<const std::byte> buf,
                                                   core::WriteFlags f) override {
    co_await yield();
    co_return co_await inner_->write(lba, buf, f);
  }
  boost::asio::awaitable<core::Result<void>> flush(core::LbaRange r) override {
    co_return co_await inner_->flush(r);
  }
  boost::asio::awaitable<core::Result<void>> unmap(std::span<const core::LbaRange> r) override {
    co_return co_await inner_->unmap(r);
  }

 private:
  static boost::asio::awaitable<void> yield() {
    co_await boost::asio::post(co_await boost::asio::this_coro::executor,
                               boost::asio::use_awaitable);
  }
  std::shared_ptr<core::BlockDevice> inner_;
};

struct Outcome {
  CommandResult result;
  std::vector<uint8_t> data;  // data_in_length bytes of data-in
};

inline std::shared_ptr<Nexus> make_nexus(uint64_t id, std::string name, uint8_t isid_last = 1) {
  auto n = std::make_shared<Nexus>();
  n->id = id;
  n->initiator_name = std::move(name);
  n->isid = {0x40, 0x00, 0x01, 0x37, 0x00, isid_last};
  n->target_portal_group = 1;
  n->target_name = "iqn.2026-11.org.swiftness:test";
  return n;
}

class Harness {
 public:
  struct Options {
    uint32_t block_size = 512;
    uint64_t blocks = 2048;
    bool thin = true;
    std::string state_dir = {};
    bool add_nexuses = true;  // log both nexuses in (and clear their POWER ON UA)
    bool yielding = false;    // wrap the device in a YieldingDevice
  };
  Harness() : Harness(Options{}) {}
  explicit Harness(Options o) : opts_(o) {
    dev = std::make_shared<storage::RamBlockDevice>(o.block_size, o.blocks, o.thin);
    start();
  }
  // A fresh DeviceServer over the same device (a daemon restart).
  void start() {
    LogicalUnitSpec s;
    s.lun = 0;
    s.device = opts_.yielding
                   ? std::shared_ptr<core::BlockDevice>(std::make_shared<YieldingDevice>(dev))
                   : std::shared_ptr<core::BlockDevice>(dev);
    s.product = "Test LUN";
    s.serial = "SN0001";
    s.naa_id = {0x60, 0x01, 0x40, 0x5f, 0x00, 0x00, 0x00, 0x01,
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a};
    s.state_dir = opts_.state_dir;
    std::vector<LogicalUnitSpec> v;
    v.push_back(s);
    server = make_device_server("iqn.2026-11.org.swiftness:test", std::move(v));
    if (opts_.add_nexuses) {
      server->nexus_added(a);
      server->nexus_added(b);
      clear_ua(a);
      clear_ua(b);
    }
  }
  void clear_ua(const std::shared_ptr<Nexus>& n) {
    for (int i = 0; i < 8; ++i)
      if (run({0x00, 0, 0, 0, 0, 0}, 0, {}, n).result.status == Status::good) return;
  }

  Outcome run(std::vector<uint8_t> cdb, uint32_t edtl = 0, std::vector<uint8_t> data_out = {},
              std::shared_ptr<Nexus> nexus = nullptr, uint64_t lun = 0) {
    cdb.resize(std::max<size_t>(cdb.size(), 16), 0);
    std::vector<std::byte> in(edtl);
    Command cmd;
    cmd.nexus = nexus ? nexus : a;
    cmd.lun = lun;
    cmd.cdb = cdb;
    cmd.expected_transfer_length = edtl;
    cmd.data_in = in;
    cmd.data_out = std::as_bytes(std::span(data_out));
    boost::asio::io_context io;
    std::optional<CommandResult> res;
    boost::asio::co_spawn(io, server->execute(cmd), [&](std::exception_ptr e, CommandResult r) {
      if (e) std::rethrow_exception(e);
      res = std::move(r);
    });
    io.run();
    Outcome o{std::move(*res), {}};
    for (uint32_t i = 0; i < o.result.data_in_length; ++i)
      o.data.push_back(uint8_t(in[i]));
    return o;
  }

  std::shared_ptr<storage::RamBlockDevice> dev;
  std::unique_ptr<DeviceServer> server;
  std::shared_ptr<Nexus> a = make_nexus(1, "iqn.2026-11.org.test:alpha", 1);
  std::shared_ptr<Nexus> b = make_nexus(2, "iqn.2026-11.org.test:beta", 2);

 private:
  Options opts_;
};

inline ::testing::AssertionResult IsGood(const Outcome& o) {
  if (o.result.status == Status::good) return ::testing::AssertionSuccess();
  auto d = parse_sense(o.result.sense);
  return ::testing::AssertionFailure()
         << "status " << int(o.result.status) << " sense key " << (d ? int(d->key) : -1) << " asc "
         << (d ? int(d->asc) : -1) << " ascq " << (d ? int(d->ascq) : -1);
}

inline ::testing::AssertionResult HasCheckCondition(const Outcome& o, SenseKey key, uint8_t asc,
                                                    uint8_t ascq) {
  if (o.result.status != Status::check_condition)
    return ::testing::AssertionFailure() << "status " << int(o.result.status);
  auto d = parse_sense(o.result.sense);
  if (!d) return ::testing::AssertionFailure() << "unparseable sense";
  if (d->key != key || d->asc != asc || d->ascq != ascq)
    return ::testing::AssertionFailure()
           << "sense " << int(d->key) << "/" << std::hex << int(d->asc) << "/" << int(d->ascq);
  return ::testing::AssertionSuccess();
}

inline ::testing::AssertionResult IsInvalidFieldInCdb(const Outcome& o) {
  return HasCheckCondition(o, SenseKey::illegal_request, 0x24, 0x00);
}
inline ::testing::AssertionResult IsLbaOutOfRange(const Outcome& o) {
  return HasCheckCondition(o, SenseKey::illegal_request, 0x21, 0x00);
}
inline ::testing::AssertionResult IsReservationConflict(const Outcome& o) {
  if (o.result.status == Status::reservation_conflict) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "status " << int(o.result.status);
}

// CDB builders, named as in SBC-3.
inline std::vector<uint8_t> read10(uint32_t lba, uint16_t blocks, uint8_t flags = 0) {
  return {0x28,         flags, uint8_t(lba >> 24),   uint8_t(lba >> 16), uint8_t(lba >> 8),
          uint8_t(lba), 0,     uint8_t(blocks >> 8), uint8_t(blocks),    0};
}
inline std::vector<uint8_t> write10(uint32_t lba, uint16_t blocks, uint8_t flags = 0) {
  auto c = read10(lba, blocks, flags);
  c[0] = 0x2a;
  return c;
}
inline std::vector<uint8_t> cdb16(uint8_t op, uint64_t lba, uint32_t blocks, uint8_t b1 = 0) {
  std::vector<uint8_t> c(16, 0);
  c[0] = op;
  c[1] = b1;
  for (int i = 0; i < 8; ++i)
    c[2 + i] = uint8_t(lba >> (56 - 8 * i));
  for (int i = 0; i < 4; ++i)
    c[10 + i] = uint8_t(blocks >> (24 - 8 * i));
  return c;
}

inline std::string make_temp_dir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp ? tmp : "/tmp") + "/swiftness-scsi-XXXXXX";
  if (!::mkdtemp(templ.data())) return {};
  return templ;
}

}  // namespace swiftness::scsi::test
