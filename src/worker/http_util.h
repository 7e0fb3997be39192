// The worker-side parts of the HTTP API (docs/api.md) that are not shared with the client:
// Range headers and decimal parameters. Kept free of Beast so they are cheap to compile and easy
// to test. Everything both sides speak (names, targets, percent coding, Status <-> HTTP, JSON)
// is in src/protocol.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "epochcache/status.h"
#include "protocol/error_json.h"
#include "protocol/percent.h"
#include "protocol/status_http.h"
#include "protocol/target.h"

namespace epochcache::worker {

// The worker speaks the protocol's names; these keep its older spellings in use.
using protocol::IsWorkerBusy;
using protocol::ParseTarget;
using protocol::PercentDecode;
using protocol::RequestTarget;
using protocol::WorkerBusy;
inline std::string ErrorJson(const Status& status) { return protocol::EncodeError(status); }

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

}  // namespace epochcache::worker
