// execute() from several threads at once (connection strands on an io_context run by N threads):
// COMPARE AND WRITE must be atomic against other writes to the same blocks (SBC-3 5.2), and the
// shared state (unit attentions, mode pages) must stay consistent.
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <thread>

#include "core/bytes.hpp"
#include "tests/unit/scsi/harness.hpp"

namespace swiftness::scsi::test {
namespace {

using boost::asio::awaitable;

awaitable<CommandResult> run_cmd(DeviceServer& s, std::shared_ptr<Nexus> n,
                                 std::vector<uint8_t> cdb, std::vector<std::byte> out,
                                 std::vector<std::byte>& in) {
  cdb.resize(16, 0);
  Command cmd;
  cmd.nexus = n;
  cmd.cdb = cdb;
  cmd.data_out = out;
  cmd.data_in = in;
  cmd.expected_transfer_length = uint32_t(std::max(out.size(), in.size()));
  co_return co_await s.execute(cmd);
}

TEST(CompareAndWrite, AtomicIncrementsFromManyThreads) {
  Harness h(Harness::Options{.yielding = true});
  constexpr int kWorkers = 8, kIncrements = 150;
  boost::asio::io_context io;
  std::atomic<int> done{0}, miscompares{0}, errors{0};
  for (int w = 0; w < kWorkers; ++w) {
    auto nexus = (w % 2) ? h.a : h.b;
    boost::asio::co_spawn(
        boost::asio::make_strand(io),
        [&, nexus]() -> awaitable<void> {
          std::vector<std::byte> block(512);
          for (int i = 0; i < kIncrements;) {
            // Read the counter (first 8 bytes of LBA 7), then CAW old -> old + 1.
            auto r = co_await run_cmd(*h.server, nexus, read10(7, 1), {}, block);
            if (r.status != Status::good) {
              ++errors;
              break;
            }
            uint64_t v = core::load_be64(reinterpret_cast<uint8_t*>(block.data()));
            std::vector<std::byte> caw_data(1024);
            std::copy(block.begin(), block.end(), caw_data.begin());
            std::copy(block.begin(), block.end(), caw_data.begin() + 512);
            core::store_be64(reinterpret_cast<uint8_t*>(caw_data.data() + 512), v + 1);
            auto caw = cdb16(0x89, 7, 0);
            caw[13] = 1;
            std::vector<std::byte> none;
            auto c = co_await run_cmd(*h.server, nexus, caw, caw_data, none);
            if (c.status == Status::good) {
              ++i;
            } else if (c.status == Status::check_condition) {
              ++miscompares;  // someone else won the race: retry with the new value
            } else {
              ++errors;
              break;
            }
            // Unrelated writes keep the same LU busy meanwhile.
            std::vector<std::byte> other(512, std::byte(i));
            co_await run_cmd(*h.server, nexus, write10(100 + uint32_t(i % 16), 1), other, none);
          }
          ++done;
        },
        boost::asio::detached);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] { io.run(); });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(done.load(), kWorkers);
  EXPECT_EQ(errors.load(), 0);
  auto o = h.run(read10(7, 1), 512);
  EXPECT_EQ(core::load_be64(o.data.data()), uint64_t(kWorkers * kIncrements));
}

}  // namespace
}  // namespace swiftness::scsi::test
