// The Content-Range header of a worker's 206 answer.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace epochcache::client {

struct ContentRange {
  std::uint64_t first = 0;  // inclusive
  std::uint64_t last = 0;   // inclusive
  std::uint64_t size = 0;   // of the whole file
};

// Parses "bytes FIRST-LAST/SIZE"; nothing for anything else (including numbers beyond 2^64).
std::optional<ContentRange> ParseContentRange(std::string_view value);

}  // namespace epochcache::client
