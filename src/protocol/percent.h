// Percent coding of the worker protocol: query parameters are encoded with the one encoder of
// the code base and decoded once with its one decoder (both in common/curl_http.h, the lowest
// layer, which the under stores share for S3 keys, SigV4 and encoded paths).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/curl_http.h"
#include "epochcache/status.h"

namespace epochcache::protocol {

// Which characters stay as they are; every other byte becomes %XX (upper-case hex).
enum class PercentKeep : std::uint8_t {
  kUnreserved,          // A-Z a-z 0-9 - . _ ~  (a query component; SigV4 query names/values)
  kUnreservedAndSlash,  // and '/'              (a SigV4 canonical path)
};

inline std::string PercentEncode(std::string_view text,
                                 PercentKeep keep = PercentKeep::kUnreserved) {
  return AwsUriEncode(text, keep == PercentKeep::kUnreservedAndSlash);
}

// Decodes %XX escapes once ("%252e" is "%2e", never "."); '+' stays a plus. InvalidArgument on
// a truncated or non-hex escape.
using epochcache::PercentDecode;

}  // namespace epochcache::protocol
