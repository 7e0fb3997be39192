// One remote request with retries: transient failures (5xx, 429, connection failures, resets,
// timeouts) are retried with jittered exponential backoff within the operation deadline; any
// other HTTP answer is returned as is for the caller to interpret.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "common/curl_http.h"
#include "epochcache/under_store.h"

namespace epochcache {

// Turns a retryable HTTP answer into the Status reported when attempts run out.
using RetryableErrorFn = std::function<Status(const HttpResponse&)>;

Result<HttpResponse> PerformWithRetries(CurlHttp& http, const HttpRequest& request,
                                        const UnderStoreOptions& options, const std::string& uri,
                                        const RetryableErrorFn& describe,
                                        std::atomic<std::uint64_t>* retries);

}  // namespace epochcache
