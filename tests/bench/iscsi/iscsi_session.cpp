#include "tests/bench/iscsi/iscsi_session.hpp"

#include <poll.h>
#include <signal.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include <fmt/format.h>
#include <boost/program_options.hpp>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

namespace po = boost::program_options;

namespace swiftness::bench {
namespace {

bool parse_digest(const std::string& s, iscsi_header_digest* out) {
  if (s == "none")
    *out = ISCSI_HEADER_DIGEST_NONE;
  else if (s == "crc32c")
    *out = ISCSI_HEADER_DIGEST_CRC32C;
  else if (s == "none,crc32c")
    *out = ISCSI_HEADER_DIGEST_NONE_CRC32C;
  else if (s == "crc32c,none")
    *out = ISCSI_HEADER_DIGEST_CRC32C_NONE;
  else
    return false;
  return true;
}

bool parse_yes_no(const std::string& s, bool* out) {
  if (s == "yes" || s == "Yes")
    *out = true;
  else if (s == "no" || s == "No")
    *out = false;
  else
    return false;
  return true;
}

const char* status_name(int status) {
  switch (status) {
    case SCSI_STATUS_GOOD:
      return "GOOD";
    case SCSI_STATUS_CHECK_CONDITION:
      return "CHECK CONDITION";
    case SCSI_STATUS_CONDITION_MET:
      return "CONDITION MET";
    case SCSI_STATUS_BUSY:
      return "BUSY";
    case SCSI_STATUS_RESERVATION_CONFLICT:
      return "RESERVATION CONFLICT";
    case SCSI_STATUS_TASK_SET_FULL:
      return "TASK SET FULL";
    case SCSI_STATUS_ACA_ACTIVE:
      return "ACA ACTIVE";
    case SCSI_STATUS_TASK_ABORTED:
      return "TASK ABORTED";
    case SCSI_STATUS_REDIRECT:
      return "REDIRECT";
    case SCSI_STATUS_CANCELLED:
      return "CANCELLED (connection lost or aborted)";
    case SCSI_STATUS_ERROR:
      return "TRANSPORT ERROR";
    case SCSI_STATUS_TIMEOUT:
      return "TIMEOUT";
    default:
      return "UNKNOWN STATUS";
  }
}

}  // namespace

void add_connect_options(po::options_description& desc, ConnectOptions& o,
                         const std::string& default_initiator) {
  o.initiator_name = default_initiator;
  // clang-format off
  desc.add_options()
    ("initiator-name", po::value(&o.initiator_name)->default_value(default_initiator),
     "our InitiatorName")
    ("header-digest", po::value(&o.header_digest)->default_value("none"),
     "HeaderDigest offer: none | crc32c | none,crc32c | crc32c,none")
    ("data-digest", po::value(&o.data_digest)->default_value("none"),
     "DataDigest offer (same values); libiscsi < 1.20 can only offer none")
    ("chap-user", po::value(&o.chap_user), "CHAP user (overrides user%secret@ in the URL)")
    ("chap-secret", po::value(&o.chap_secret), "CHAP secret")
    ("mutual-chap-user", po::value(&o.mutual_chap_user),
     "target's CHAP user for mutual CHAP (needs --chap-user)")
    ("mutual-chap-secret", po::value(&o.mutual_chap_secret), "target's CHAP secret")
    ("immediate-data", po::value(&o.immediate_data)->default_value("yes"),
     "ImmediateData offer: yes | no")
    ("initial-r2t", po::value(&o.initial_r2t)->default_value("no"), "InitialR2T offer: yes | no")
    ("timeout", po::value(&o.timeout_s)->default_value(30),
     "seconds before a command or login PDU times out (0: never)")
    ("reconnect", po::bool_switch(&o.reconnect),
     "let libiscsi reconnect and retry after a dropped connection (default: fail)")
    ("libiscsi-debug", po::value(&o.libiscsi_log_level)->default_value(0),
     "libiscsi log level to stderr (0 = off)");
  // clang-format on
}

std::optional<int> parse_command_line(int argc, char** argv, const po::options_description& desc,
                                      ConnectOptions& opts, const char* tool) {
  po::options_description hidden;
  hidden.add_options()("url", po::value(&opts.url));
  po::options_description all;
  all.add(desc).add(hidden);
  po::positional_options_description pos;
  pos.add("url", 1);
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "%s: %s (try --help)\n", tool, e.what());
    return 2;
  }
  if (opts.url.empty()) {
    std::fprintf(stderr, "%s: missing iscsi:// URL (try --help)\n", tool);
    return 2;
  }
  if (std::string error; !validate_connect_options(opts, &error)) {
    std::fprintf(stderr, "%s: %s\n", tool, error.c_str());
    return 2;
  }
  return std::nullopt;
}

bool validate_connect_options(const ConnectOptions& o, std::string* error) {
  iscsi_header_digest digest;
  bool yes_no;
  if (!parse_digest(o.header_digest, &digest)) {
    *error = fmt::format("--header-digest '{}': expected none, crc32c, none,crc32c or crc32c,none",
                         o.header_digest);
    return false;
  }
  if (!parse_digest(o.data_digest, &digest)) {
    *error = fmt::format("--data-digest '{}': expected none, crc32c, none,crc32c or crc32c,none",
                         o.data_digest);
    return false;
  }
  if (digest != ISCSI_HEADER_DIGEST_NONE && !libiscsi_supports_data_digest()) {
    *error =
        "--data-digest: this libiscsi (< 1.20) always offers DataDigest=None and has no API "
        "to change it";
    return false;
  }
  if (!parse_yes_no(o.immediate_data, &yes_no) || !parse_yes_no(o.initial_r2t, &yes_no)) {
    *error = "--immediate-data and --initial-r2t take yes or no";
    return false;
  }
  if (o.timeout_s < 0) {
    *error = "--timeout must be >= 0";
    return false;
  }
  return true;
}

bool libiscsi_supports_data_digest() {
#ifdef SWIFTNESS_LIBISCSI_HAS_DATA_DIGEST
  return true;
#else
  return false;
#endif
}

std::unique_ptr<IscsiSession> IscsiSession::connect(const ConnectOptions& o, std::string* error) {
  // libiscsi sends PDUs with writev(), which raises SIGPIPE on a connection the target reset:
  // a target killed while we send (the kill -9 tests) ended the tool by that signal instead of
  // exit 4 with the failed commands reported. Ignored, writev fails with EPIPE and libiscsi
  // reports the connection lost.
  ::signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<IscsiSession> s(new IscsiSession());
  s->ctx_ = iscsi_create_context(o.initiator_name.c_str());
  if (s->ctx_ == nullptr) {
    *error = "iscsi_create_context failed (bad initiator name?)";
    return nullptr;
  }
  iscsi_context* ctx = s->ctx_;
  auto fail = [&](const std::string& step) {
    *error = fmt::format("{}: {}", step, iscsi_get_error(ctx));
    return nullptr;
  };
  if (o.libiscsi_log_level > 0) {
    iscsi_set_log_level(ctx, o.libiscsi_log_level);
    iscsi_set_log_fn(ctx, iscsi_log_to_stderr);
  }

  iscsi_url* url = iscsi_parse_full_url(ctx, o.url.c_str());
  if (url == nullptr) return fail(fmt::format("bad URL '{}'", o.url));
  s->lun_ = url->lun;
  s->target_ = url->target;
  s->portal_ = url->portal;
  std::string user = url->user, secret = url->passwd;
  std::string target_user = url->target_user, target_secret = url->target_passwd;
  iscsi_destroy_url(url);
  if (!o.chap_user.empty()) user = o.chap_user;
  if (!o.chap_secret.empty()) secret = o.chap_secret;
  if (!o.mutual_chap_user.empty()) target_user = o.mutual_chap_user;
  if (!o.mutual_chap_secret.empty()) target_secret = o.mutual_chap_secret;

  iscsi_header_digest hd;
  if (!parse_digest(o.header_digest, &hd)) {
    *error = fmt::format("--header-digest '{}': expected none, crc32c, none,crc32c or crc32c,none",
                         o.header_digest);
    return nullptr;
  }
  iscsi_header_digest dd;
  if (!parse_digest(o.data_digest, &dd)) {
    *error = fmt::format("--data-digest '{}': expected none, crc32c, none,crc32c or crc32c,none",
                         o.data_digest);
    return nullptr;
  }
  bool immediate = true, initial_r2t = false;
  if (!parse_yes_no(o.immediate_data, &immediate) || !parse_yes_no(o.initial_r2t, &initial_r2t)) {
    *error = "--immediate-data and --initial-r2t take yes or no";
    return nullptr;
  }
  if (!target_user.empty() && user.empty()) {
    *error =
        "mutual CHAP needs initiator CHAP credentials too (libiscsi authenticates the target "
        "only after the target has authenticated us)";
    return nullptr;
  }

  if (iscsi_set_targetname(ctx, s->target_.c_str()) != 0) return fail("set target name");
  if (iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL) != 0) return fail("set session type");
  if (iscsi_set_header_digest(ctx, hd) != 0) return fail("set header digest");
  if (dd != ISCSI_HEADER_DIGEST_NONE) {
#ifdef SWIFTNESS_LIBISCSI_HAS_DATA_DIGEST
    if (iscsi_set_data_digest(ctx, static_cast<iscsi_data_digest>(dd)) != 0) {
      return fail("set data digest");
    }
#else
    *error =
        "--data-digest: this libiscsi (< 1.20) always offers DataDigest=None and has no API "
        "to change it";
    return nullptr;
#endif
  }
  if (iscsi_set_immediate_data(ctx,
                               immediate ? ISCSI_IMMEDIATE_DATA_YES : ISCSI_IMMEDIATE_DATA_NO) != 0)
    return fail("set ImmediateData");
  if (iscsi_set_initial_r2t(ctx, initial_r2t ? ISCSI_INITIAL_R2T_YES : ISCSI_INITIAL_R2T_NO) != 0)
    return fail("set InitialR2T");
  if (!user.empty() && iscsi_set_initiator_username_pwd(ctx, user.c_str(), secret.c_str()) != 0)
    return fail("set CHAP credentials");
  if (!target_user.empty() &&
      iscsi_set_target_username_pwd(ctx, target_user.c_str(), target_secret.c_str()) != 0)
    return fail("set mutual CHAP credentials");
  iscsi_set_timeout(ctx, o.timeout_s);
  if (!o.reconnect) iscsi_set_noautoreconnect(ctx, 1);

  if (iscsi_full_connect_sync(ctx, s->portal_.c_str(), s->lun_) != 0) {
    return fail(fmt::format("login to {} at {} LUN {}", s->target_, s->portal_, s->lun_));
  }

  // READ CAPACITY (16) first: READ CAPACITY (10) cannot describe LUNs of 2^32 blocks or more.
  scsi_task* task = iscsi_readcapacity16_sync(ctx, s->lun_);
  if (task != nullptr && task->status == SCSI_STATUS_GOOD) {
    auto* rc = static_cast<scsi_readcapacity16*>(scsi_datain_unmarshall(task));
    if (rc != nullptr) {
      s->block_size_ = rc->block_length;
      s->num_blocks_ = rc->returned_lba + 1;
    }
  }
  if (task != nullptr) scsi_free_scsi_task(task);
  if (s->block_size_ == 0) {
    task = iscsi_readcapacity10_sync(ctx, s->lun_, 0, 0);
    if (task == nullptr) return fail("READ CAPACITY");
    if (task->status != SCSI_STATUS_GOOD) {
      *error = "READ CAPACITY (10): " + describe_failure(ctx, task->status, task);
      scsi_free_scsi_task(task);
      return nullptr;
    }
    auto* rc = static_cast<scsi_readcapacity10*>(scsi_datain_unmarshall(task));
    if (rc != nullptr) {
      s->block_size_ = rc->block_size;
      s->num_blocks_ = uint64_t{rc->lba} + 1;
    }
    scsi_free_scsi_task(task);
  }
  if (s->block_size_ == 0 || s->block_size_ % 512 != 0) {
    *error = fmt::format("READ CAPACITY returned an unusable block size {}", s->block_size_);
    return nullptr;
  }
  return s;
}

IscsiSession::~IscsiSession() {
  // Destroying the context completes every command still in flight with SCSI_STATUS_CANCELLED;
  // owners make sure their callbacks' state outlives this.
  if (ctx_ != nullptr) iscsi_destroy_context(ctx_);
}

bool IscsiSession::service(int timeout_ms, std::string* error) {
  pollfd pfd{};
  pfd.fd = iscsi_get_fd(ctx_);
  pfd.events = static_cast<short>(iscsi_which_events(ctx_));
  if (pfd.events == 0) {
    // libiscsi asks for a pause (e.g. between reconnect attempts): header says wait >= 100 ms.
    poll(nullptr, 0, std::min(timeout_ms, 100));
    pfd.revents = 0;
  } else {
    int n = poll(&pfd, 1, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) return true;
      *error = fmt::format("poll: {}", std::strerror(errno));
      return false;
    }
    if (n == 0) pfd.revents = 0;
  }
  // revents == 0 still matters: it is how libiscsi checks its PDU timeouts.
  if (iscsi_service(ctx_, pfd.revents) < 0) {
    *error = fmt::format("connection to {} failed: {}", portal_, iscsi_get_error(ctx_));
    return false;
  }
  return true;
}

int IscsiSession::awaiting_response() const {
  return iscsi_queue_length(ctx_) - iscsi_out_queue_length(ctx_);
}

bool IscsiSession::logout(std::string* error) {
  if (logged_out_) return true;
  logged_out_ = true;
  if (iscsi_logout_sync(ctx_) != 0) {
    *error = fmt::format("logout: {}", iscsi_get_error(ctx_));
    return false;
  }
  return true;
}

std::string IscsiSession::last_error() const {
  return iscsi_get_error(ctx_);
}

std::string describe_failure(iscsi_context* ctx, int status, const scsi_task* task) {
  if (status == SCSI_STATUS_CHECK_CONDITION && task != nullptr) {
    // libiscsi packs ASC and ASCQ into one int: ASC in bits 15-8, ASCQ in bits 7-0.
    const int asc = (task->sense.ascq >> 8) & 0xff;
    const int ascq = task->sense.ascq & 0xff;
    // libiscsi has no text for some codes (scsi_sense_ascq_str(0x1100), UNRECOVERED READ
    // ERROR, is NULL in the installed version): fmt throws on a null string.
    const char* key = scsi_sense_key_str(task->sense.key);
    const char* text = scsi_sense_ascq_str(task->sense.ascq);
    return fmt::format("CHECK CONDITION, sense key {} (0x{:x}), ASC/ASCQ 0x{:02x}/0x{:02x} ({})",
                       key != nullptr ? key : "?", static_cast<int>(task->sense.key), asc, ascq,
                       text != nullptr ? text : "?");
  }
  if (status == SCSI_STATUS_ERROR || status == SCSI_STATUS_CANCELLED ||
      status == SCSI_STATUS_TIMEOUT) {
    // libiscsi keeps one error string per context, which may predate this failure.
    const char* why = ctx != nullptr ? iscsi_get_error(ctx) : "";
    return fmt::format("{}{}{}", status_name(status), *why ? "; libiscsi's last error: " : "", why);
  }
  return fmt::format("SCSI status {} (0x{:02x})", status_name(status), status);
}

}  // namespace swiftness::bench
