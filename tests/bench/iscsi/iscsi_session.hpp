#pragma once
// One logged-in libiscsi session to one LUN, driven by the caller's event loop.
//
// libiscsi's asynchronous API does no I/O by itself: the owner polls iscsi_get_fd() for
// iscsi_which_events() and hands the result to iscsi_service(), which runs completion callbacks.
// service() below is that loop body. The session never reconnects behind the caller's back
// (unless asked): a test tool must see a dropped connection, not hide it.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/program_options/options_description.hpp>

struct iscsi_context;
struct scsi_task;

namespace swiftness::bench {

struct ConnectOptions {
  std::string url;  // iscsi://[user[%secret]@]host[:port]/target-iqn/lun
  std::string initiator_name;
  std::string header_digest = "none";  // none | crc32c | none,crc32c | crc32c,none
  std::string data_digest = "none";    // same values; needs libiscsi >= 1.20
  std::string chap_user;               // overrides the URL's user%secret
  std::string chap_secret;
  std::string mutual_chap_user;  // target's credentials for mutual (bidirectional) CHAP
  std::string mutual_chap_secret;
  std::string immediate_data = "yes";  // what we offer for ImmediateData
  std::string initial_r2t = "no";      // what we offer for InitialR2T
  int timeout_s = 30;                  // per-PDU timeout, also bounds login
  bool reconnect = false;              // let libiscsi reconnect and retry silently
  int libiscsi_log_level = 0;          // > 0: libiscsi's own log to stderr
};

// Adds --initiator-name, --header-digest, --chap-*, ... to `desc`, writing into `opts`.
void add_connect_options(boost::program_options::options_description& desc, ConnectOptions& opts,
                         const std::string& default_initiator);

// Checks option values before any connection is made, so a typo is a usage error (exit 2), not
// a login failure. Returns false with *error set.
bool validate_connect_options(const ConnectOptions& opts, std::string* error);

// The command line of both tools: `desc` plus one positional iscsi:// URL (into opts.url), then
// validate_connect_options. Returns the exit code to leave with (0 after --help, 2 on a usage
// error, with the message printed as "<tool>: ..."), or nullopt to go on.
std::optional<int> parse_command_line(int argc, char** argv,
                                      const boost::program_options::options_description& desc,
                                      ConnectOptions& opts, const char* tool);

// True if the installed libiscsi can negotiate DataDigest=CRC32C (added in libiscsi 1.20).
bool libiscsi_supports_data_digest();

class IscsiSession {
 public:
  // Connects, logs in, checks the LUN and reads its capacity. On failure returns null and sets
  // *error to one line naming the step that failed.
  static std::unique_ptr<IscsiSession> connect(const ConnectOptions& opts, std::string* error);
  ~IscsiSession();
  IscsiSession(const IscsiSession&) = delete;
  IscsiSession& operator=(const IscsiSession&) = delete;

  iscsi_context* ctx() const { return ctx_; }
  int lun() const { return lun_; }
  uint32_t block_size() const { return block_size_; }
  uint64_t num_blocks() const { return num_blocks_; }
  const std::string& target() const { return target_; }
  const std::string& portal() const { return portal_; }

  // Waits up to timeout_ms for socket events and lets libiscsi process them (completion
  // callbacks run in here). Also drives libiscsi's timeouts. Returns false on a connection
  // failure, with *error set.
  bool service(int timeout_ms, std::string* error);

  // PDUs sent and awaiting a response: the commands the target holds right now. libiscsi's
  // iscsi_queue_length() also counts what is still queued for sending (commands beyond the
  // target's CmdSN window, Data-Out PDUs), so the queued part is subtracted.
  int awaiting_response() const;

  // Orderly logout; the destructor only drops the connection. Returns false on failure.
  bool logout(std::string* error);

  std::string last_error() const;

 private:
  IscsiSession() = default;

  iscsi_context* ctx_ = nullptr;
  int lun_ = 0;
  uint32_t block_size_ = 0;
  uint64_t num_blocks_ = 0;
  std::string target_;
  std::string portal_;
  bool logged_out_ = false;
};

// One line describing why a SCSI command failed: the status, and for CHECK CONDITION the sense
// key and ASC/ASCQ with libiscsi's names; for transport failures, libiscsi's last error.
std::string describe_failure(iscsi_context* ctx, int status, const scsi_task* task);

}  // namespace swiftness::bench
