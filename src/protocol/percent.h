// Percent coding (RFC 3986), the one encoder and the one decoder of the code base: query
// parameters of the worker API, S3 keys and query strings signed with SigV4, and under-store
// paths that arrive encoded.
#pragma once

#include <string>
#include <string_view>

#include "epochcache/status.h"

namespace epochcache::protocol {

// Which characters stay as they are; every other byte becomes %XX (upper-case hex).
enum class PercentKeep : std::uint8_t {
  kUnreserved,          // A-Z a-z 0-9 - . _ ~  (a query component; SigV4 query names/values)
  kUnreservedAndSlash,  // and '/'              (a SigV4 canonical path)
};

std::string PercentEncode(std::string_view text, PercentKeep keep = PercentKeep::kUnreserved);

// Decodes %XX escapes (either hex case), once: "%252e" is the three characters "%2e", never
// ".". '+' is a literal plus (paths are percent-encoded, not form-encoded). "%00" and other
// escaped control characters decode as they are; callers that take paths check them afterwards
// (CheckUnderPath). InvalidArgument on a truncated or non-hex escape.
Result<std::string> PercentDecode(std::string_view text);

}  // namespace epochcache::protocol
