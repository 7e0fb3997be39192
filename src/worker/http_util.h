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

// Decodes %XX escapes, once: "%252e" is the three characters "%2e", never ".". '+' is a literal
// plus (paths are percent-encoded, not form-encoded). "%00" and other escaped control
// characters decode as they are; the path rules (CheckUnderPath) refuse them afterwards.
// InvalidArgument on a truncated or non-hex escape.
Result<std::string> PercentDecode(std::string_view text);

// Splits a request target "/v1/read?path=%2Fa&version=3" into its path and decoded parameters
// (a repeated parameter keeps its last value). Each name and value is decoded exactly once,
// here; nothing downstream decodes again. The endpoint path is not decoded.
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

// A whole-string unsigned decimal ("42"); nullopt on anything else (sign, space, overflow,
// empty).
std::optional<std::uint64_t> ParseDecimal(std::string_view text);

// The HTTP status docs/api.md assigns to a failed Status.
unsigned HttpStatusFor(StatusCode code);

// An overloaded worker's refusal (protocol: 503, `Retry-After: 1`, message "worker busy: ...").
// `what` names the limit that was reached.
Status WorkerBusy(std::string_view what);
// Whether `status` is such a refusal (its reply then carries `Retry-After: 1`).
bool IsWorkerBusy(const Status& status);

// `{"error": "<code name>", "message": "..."}`.
std::string ErrorJson(const Status& status);

}  // namespace epochcache::worker
