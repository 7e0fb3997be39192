// Parsing of human-friendly flag values, with errors that name the flag.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "epochcache/status.h"

namespace epochcache::cli {

// "10s", "500ms", "2m", "1h", or a plain number of seconds ("10", "0.5").
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// ParseSize, with the error prefixed by the flag: "--capacity: ...".
Result<std::uint64_t> ParseSizeFlag(std::string_view flag, std::string_view text);
// ParseDuration, likewise.
Result<std::chrono::milliseconds> ParseDurationFlag(std::string_view flag, std::string_view text);

// CLI11 checks of a size or duration value, so a bad value is refused where it is given (a flag,
// an EPOCHCACHE_* variable or a --config key) rather than when the worker starts.
CLI::Validator SizeValue();
CLI::Validator DurationValue();

}  // namespace epochcache::cli
