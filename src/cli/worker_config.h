// The worker's TOML configuration file (--config) and its merge with flags and the
// environment: built-in default < config file < EPOCHCACHE_* variable < command-line flag.
//
// Every worker flag has a key: its name without the leading dashes, '-' or '_' alike
// ("max_connections", "cache_dir", also "cache_dirs"). Roots are `[[under]]` tables with a `uri`
// and optional per-root store options that override the global ones (`s3_*`) for that root. A
// value is fed through the flag's own CLI11 option, so a key converts and validates exactly like
// its flag; errors name the file, the line and the key.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "epochcache/status.h"
#include "epochcache/under_store.h"

namespace epochcache::cli {

// One flag and the variable it sets (read back by FormatConfig).
struct Setting {
  CLI::Option* option;
  std::variant<std::string*, std::vector<std::string>*, int*, unsigned*, bool*> value;
};

// A root and the store options given for it alone (unset: the global value applies).
struct RootConfig {
  std::string uri;
  std::optional<std::string> endpoint;
  std::optional<std::string> region;
  std::optional<std::string> profile;
  std::optional<std::string> addressing;
  std::optional<bool> anonymous;
  std::optional<std::string> access_key_id;
  std::optional<std::string> secret_access_key;
  std::optional<std::string> session_token;
};

// The config-file key of a flag: "--cache-dir" -> "cache_dir".
std::string ConfigKey(const CLI::Option& option);

// Reads the TOML file `path`. Each key whose flag was given neither on the command line nor in
// the environment (option count 0) is applied through the flag's option. Returns the file's
// `under` roots (empty when it has none). InvalidArgument "PATH:LINE: key 'K': ..." for a
// syntax error, an unknown key, a wrong type or a value the flag refuses.
Result<std::vector<RootConfig>> LoadWorkerConfig(const std::string& path,
                                                 const std::vector<Setting>& settings);

// `global` with the options `root` sets for itself.
UnderStoreOptions RootStoreOptions(const UnderStoreOptions& global, const RootConfig& root);

// The effective configuration as a TOML file LoadWorkerConfig accepts, with secrets redacted:
// keys and tokens as "<redacted>", user information removed from URIs.
std::string FormatConfig(const std::vector<Setting>& settings,
                         const std::vector<RootConfig>& roots);

}  // namespace epochcache::cli
