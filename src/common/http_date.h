// HTTP dates (RFC 1123, as in Last-Modified) as the nanoseconds a FileStatus carries.
#pragma once

#include <cstdint>
#include <string_view>

namespace epochcache {

// `text` in nanoseconds since 1970, by libcurl's date parser; 0 ("unknown") when it does not
// parse, is before 1970, or is after 2262 (where nanoseconds in an int64 end): a date a server
// sends can never overflow.
std::int64_t HttpDateNs(std::string_view text);

}  // namespace epochcache
