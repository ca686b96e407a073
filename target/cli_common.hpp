// What the CLI commands share (cli.cpp, cli_lun_edit.cpp): option parsing, finding the admin
// endpoint from the configuration, JSON calls to the daemon, and number formatting.
#pragma once

#include <boost/json/value.hpp>
#include <boost/program_options.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "admin/client.hpp"
#include "config/config.hpp"

namespace swiftness::target::cli {

inline constexpr const char* kDefaultConfig = "/etc/swiftness/swiftness.yaml";

struct Common {
  std::string config_path = kDefaultConfig;
  std::string socket;
};

void add_common(boost::program_options::options_description& d, Common& c);
// Parses `args`; on a usage error prints it with the options and returns false.
bool parse(const std::vector<std::string>& args, boost::program_options::options_description& d,
           boost::program_options::positional_options_description& pos,
           boost::program_options::variables_map& vm);

// The configuration (errors printed), or nullopt.
std::optional<config::Config> load_config(const std::string& path);
// Where the daemon answers: --socket, else the configuration's admin section (messages on
// stderr and nullopt when there is none).
std::optional<admin::Endpoint> endpoint(const Common& c);
// One request; a message on stderr and nullopt when the daemon cannot be reached.
std::optional<admin::Response> call(const admin::Endpoint& ep, const std::string& method,
                                    const std::string& target);
// The daemon's answer as JSON when its status is `want`; otherwise a message on stderr and
// nullopt.
std::optional<boost::json::value> call_json(const admin::Endpoint& ep, const std::string& method,
                                            const std::string& target, int want);

uint64_t u64(const boost::json::value& o, const char* key);
std::string str(const boost::json::value& o, const char* key);
// 1.5 GiB style.
std::string human(double bytes);
// Letters, digits, '-', '_', '.': safe in a URL path and a YAML scalar.
bool plain_name(const std::string& n);
std::optional<std::string> read_text(const std::string& path);

}  // namespace swiftness::target::cli
