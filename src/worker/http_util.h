// The transport-independent parts of the worker's HTTP API (docs/api.md): query strings,
// Range headers, and how a Status becomes an HTTP status. Kept free of Beast so they are cheap
// to compile and easy to test.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "epochcache/status.h"

namespace epochcache::worker {

// Decodes %XX escapes. '+' is a literal plus (paths are percent-encoded, not form-encoded).
// InvalidArgument on a truncated or non-hex escape.
Result<std::string> PercentDecode(std::string_view text);

// Splits a request target "/v1/read?path=%2Fa&version=3" into its path and decoded parameters
// (a repeated parameter keeps its last value).
struct RequestTarget {
  std::string path;
  std::map<std::string, std::string, std::less<>> params;
};
Result<RequestTarget> ParseTarget(std::string_view target);

// One byte range of a `Range: bytes=...` header, before the file size is known.
struct RangeSpec {
  enum class Kind { kFromTo, kFrom, kSuffix };
  Kind kind = Kind::kFromTo;
  std::uint64_t first = 0;   // kFromTo, kFrom
  std::uint64_t last = 0;    // kFromTo (inclusive)
  std::uint64_t suffix = 0;  // kSuffix: the last `suffix` bytes
};

// Parses "bytes=A-B", "bytes=A-" or "bytes=-N". Several ranges, another unit, B < A or
// anything unparsable is InvalidArgument (answered 400).
Result<RangeSpec> ParseRange(std::string_view header);

// The bytes [offset, offset + length) a range selects in a file of `size` bytes, END clipped to
// the file; nullopt when unsatisfiable (it starts at or past the end, or a zero suffix).
struct ByteSpan {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};
std::optional<ByteSpan> ResolveRange(const RangeSpec& range, std::uint64_t size);

// The HTTP status docs/api.md assigns to a failed Status.
unsigned HttpStatusFor(StatusCode code);

// `{"error": "<code name>", "message": "..."}`.
std::string ErrorJson(const Status& status);

}  // namespace epochcache::worker
