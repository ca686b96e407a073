// What a handler sees, and the handler functions the command table points at. Handlers run
// after the dispatcher's shared checks (design.md §3), so they only do their own command's work.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>

#include "core/block_device.hpp"
#include "target/scsi/command_table.hpp"
#include "target/scsi/data_in_writer.hpp"
#include "target/scsi/logical_unit_state.hpp"
#include "target/scsi/sense.hpp"

namespace swiftness::scsi {

class DeviceServerImpl;

struct Ctx {
  const Command& cmd;
  const CommandSpec& spec;
  DeviceServerImpl& server;
  LogicalUnitState* lu;  // null when the LUN does not exist (kNoLun commands only)
  core::BlockGeometry geo;
  std::span<const uint8_t> cdb;
  uint64_t lba = 0;
  uint64_t blocks = 0;

  ItNexusId it_nexus() const;
  bool descriptor_sense() const { return lu && lu->descriptor_sense(); }
  CommandResult fail(SenseInfo info) const;
  CommandResult fail(SenseReason r) const { return fail(SenseInfo{r}); }
  CommandResult invalid_cdb_field(uint16_t byte, int8_t bit = -1) const {
    return fail(
        SenseInfo{SenseReason::invalid_field_in_cdb, std::nullopt, FieldPointer{true, byte, bit}});
  }
  CommandResult storage_error(std::error_code ec, bool writing) const;
  // A finished data-in response: the transfer is the response cut at ALLOCATION LENGTH.
  CommandResult data_in(const DataInWriter& w) const;
};

CommandResult good();
CommandResult reservation_conflict();

// handlers_info.cpp
boost::asio::awaitable<CommandResult> handle_inquiry(Ctx&);
boost::asio::awaitable<CommandResult> handle_report_luns(Ctx&);
boost::asio::awaitable<CommandResult> handle_read_capacity10(Ctx&);
boost::asio::awaitable<CommandResult> handle_read_capacity16(Ctx&);
boost::asio::awaitable<CommandResult> handle_test_unit_ready(Ctx&);
boost::asio::awaitable<CommandResult> handle_request_sense(Ctx&);
boost::asio::awaitable<CommandResult> handle_report_supported_opcodes(Ctx&);
boost::asio::awaitable<CommandResult> handle_report_supported_tmfs(Ctx&);
boost::asio::awaitable<CommandResult> handle_start_stop_unit(Ctx&);
boost::asio::awaitable<CommandResult> handle_prevent_allow(Ctx&);
boost::asio::awaitable<CommandResult> handle_read_defect_data(Ctx&);
// handlers_io.cpp
boost::asio::awaitable<CommandResult> handle_read(Ctx&);
boost::asio::awaitable<CommandResult> handle_write(Ctx&);
boost::asio::awaitable<CommandResult> handle_verify(Ctx&);
boost::asio::awaitable<CommandResult> handle_write_and_verify(Ctx&);
boost::asio::awaitable<CommandResult> handle_synchronize_cache(Ctx&);
boost::asio::awaitable<CommandResult> handle_prefetch(Ctx&);
// handlers_emulated.cpp
boost::asio::awaitable<CommandResult> handle_compare_and_write(Ctx&);
boost::asio::awaitable<CommandResult> handle_orwrite(Ctx&);
boost::asio::awaitable<CommandResult> handle_write_same(Ctx&);
boost::asio::awaitable<CommandResult> handle_unmap(Ctx&);
boost::asio::awaitable<CommandResult> handle_get_lba_status(Ctx&);
// handlers_mode.cpp
boost::asio::awaitable<CommandResult> handle_mode_sense(Ctx&);
boost::asio::awaitable<CommandResult> handle_mode_select(Ctx&);
// handlers_reservations.cpp
boost::asio::awaitable<CommandResult> handle_pr_in(Ctx&);
boost::asio::awaitable<CommandResult> handle_pr_out(Ctx&);
boost::asio::awaitable<CommandResult> handle_reserve(Ctx&);
boost::asio::awaitable<CommandResult> handle_release(Ctx&);

}  // namespace swiftness::scsi
