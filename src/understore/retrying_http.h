// One remote request with retries: transient failures (5xx, 429, connection failures, resets,
// timeouts) are retried with jittered exponential backoff within the operation deadline; any
// other HTTP answer is returned as is for the caller to interpret. Back-off waits and the
// deadline run on a Clock, so tests step through a schedule without waiting it out.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/curl_http.h"
#include "epochcache/under_store.h"

namespace epochcache {

// Turns a retryable HTTP answer into the Status reported when attempts run out.
using RetryableErrorFn = std::function<Status(const HttpResponse&)>;

// The value of response header `name` (lower case), empty if absent.
std::string HeaderValue(const HttpResponse& response, const std::string& name);

// Header `name` as an unsigned number: IoError naming the header and `uri` when it is absent
// (and `required`), or not entirely decimal digits, or too large. Absent and not required = 0.
Result<std::uint64_t> HeaderNumber(const HttpResponse& response, const std::string& name,
                                   std::string_view uri, bool required);

Result<HttpResponse> PerformWithRetries(CurlHttp& http, const HttpRequest& request,
                                        const UnderStoreOptions& options, const std::string& uri,
                                        const RetryableErrorFn& describe,
                                        std::atomic<std::uint64_t>* retries,
                                        Clock& clock = Clock::Real());

}  // namespace epochcache
