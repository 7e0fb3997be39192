// The names of the worker's HTTP API (docs/api.md): endpoints, query parameters, headers and
// limits. The worker routes on these and the client builds requests from them, so neither side
// spells a name of its own.
#pragma once

#include <cstdint>
#include <string_view>

namespace epochcache::protocol {

// Endpoints that take GET only.
inline constexpr std::string_view kReadPath = "/v1/read";
inline constexpr std::string_view kStatPath = "/v1/stat";
inline constexpr std::string_view kListPath = "/v1/list";
inline constexpr std::string_view kHealthPath = "/v1/health";
inline constexpr std::string_view kStatsPath = "/v1/stats";
inline constexpr std::string_view kMetricsPath = "/metrics";  // Prometheus text format
// Endpoints that take POST only (an empty body; everything is in the query).
inline constexpr std::string_view kLoadPath = "/v1/load";
inline constexpr std::string_view kEvictPath = "/v1/evict";

// Query parameters.
inline constexpr std::string_view kPathParam = "path";        // every endpoint that names a file
inline constexpr std::string_view kVersionParam = "version";  // /v1/read
inline constexpr std::string_view kRecursiveParam = "recursive";     // /v1/list
inline constexpr std::string_view kLimitParam = "limit";             // /v1/list
inline constexpr std::string_view kStartAfterParam = "start_after";  // /v1/list
inline constexpr std::string_view kOffsetParam = "offset";           // /v1/load
inline constexpr std::string_view kLengthParam = "length";           // /v1/load

// /v1/list page sizes: `limit` defaults to kDefaultListLimit; 0 or above kMaxListLimit is 400.
inline constexpr std::uint64_t kDefaultListLimit = 1000;
inline constexpr std::uint64_t kMaxListLimit = 10000;

// Headers of a successful /v1/read.
inline constexpr std::string_view kSizeHeader = "X-Epochcache-Size";
inline constexpr std::string_view kVersionHeader = "X-Epochcache-Version";

// A busy worker's 503 carries `Retry-After: 1`.
inline constexpr std::string_view kRetryAfterHeader = "Retry-After";
inline constexpr std::string_view kRetryAfterSeconds = "1";

// Authentication: `Authorization: Bearer <token>` on every endpoint but /v1/health; a refusal
// is 401 with `WWW-Authenticate: Bearer realm="epochcache"`.
inline constexpr std::string_view kAuthorizationHeader = "Authorization";
inline constexpr std::string_view kBearerPrefix = "Bearer ";
inline constexpr std::string_view kWwwAuthenticateHeader = "WWW-Authenticate";
inline constexpr std::string_view kWwwAuthenticateValue = R"(Bearer realm="epochcache")";

// Keys of the /v1/load and /v1/evict answers.
inline constexpr std::string_view kBytesFetchedKey = "bytes_fetched";
inline constexpr std::string_view kPagesEvictedKey = "pages_evicted";

}  // namespace epochcache::protocol
