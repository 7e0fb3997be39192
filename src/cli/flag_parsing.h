// Parsing of human-friendly flag values, with errors that name the flag.
#pragma once

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

}  // namespace epochcache::cli
