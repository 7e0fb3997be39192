// Percent-encoding of query-string components (RFC 3986).
#pragma once

#include <string>
#include <string_view>

namespace epochcache::client {

// Encodes `in` for use as one query component: the RFC 3986 unreserved characters
// (ALPHA / DIGIT / "-" / "." / "_" / "~") pass through, every other byte becomes %XX.
// "/" and ":" are encoded too, so a URI such as "s3://b/k" survives as one parameter value.
std::string PercentEncodeQueryComponent(std::string_view in);

}  // namespace epochcache::client
