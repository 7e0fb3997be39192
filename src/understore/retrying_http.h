// One remote request with retries: transient failures (5xx, 429, connection failures, resets,
// timeouts) are retried with jittered exponential backoff within the operation deadline, waiting
// at least what a 429 or 503 asks for in Retry-After (if that fits in the deadline); any other
// HTTP answer is returned as is for the caller to interpret. Back-off waits and the deadline run
// on a Clock, so tests step through a schedule without waiting it out.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
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

// Sends `request` with the options' connect and request timeouts, retrying as described above.
Result<HttpResponse> PerformWithRetries(CurlHttp& http, HttpRequest request,
                                        const UnderStoreOptions& options, const std::string& uri,
                                        const RetryableErrorFn& describe,
                                        std::atomic<std::uint64_t>* retries,
                                        Clock& clock = Clock::Real());

// The wait a 429 or 503 answer asks for in Retry-After (delta-seconds or an HTTP date), if any.
std::optional<std::chrono::milliseconds> RetryAfter(const HttpResponse& response);

// Adds credentials to one hop of a redirect chain; `home` says whether the hop goes to the
// origin the credentials belong to (and is false for every other origin).
using AuthorizeHopFn = std::function<void(HttpRequest& hop, bool home)>;

// PerformWithRetries for `url`, following redirects here rather than in libcurl: at most
// `max_redirects` hops, to http(s) only, never from https to http, never to a URL carrying
// userinfo. Each hop is `request` sent to the hop's URL, after `authorize` had its say, so
// credentials reach only `home_origin` ("scheme://host:port", see UrlParts::Origin). A
// redirect's own body is never used: the answer returned is the first that is not a redirect.
Result<HttpResponse> PerformFollowingRedirects(CurlHttp& http, const HttpRequest& request,
                                               const std::string& url,
                                               const std::string& home_origin, int max_redirects,
                                               const AuthorizeHopFn& authorize,
                                               const UnderStoreOptions& options,
                                               const RetryableErrorFn& describe,
                                               std::atomic<std::uint64_t>* retries);

// What a ranged GET (`Range: bytes=offset-...`, body into the caller's buffer) answered, for the
// stores' ReadRange: the bytes received for a 206, or for a 200 when the read starts at 0 (a
// whole-object answer covers it); 0 for a 416 (the read starts at or past the end). A server
// that ignored the range is an IoError naming `what`; a transport failure is returned as is.
// Any other HTTP answer is nullopt, for the store to turn into its own Status.
Result<std::optional<std::size_t>> RangedReadBytes(const Result<HttpResponse>& response,
                                                   std::uint64_t offset, std::string_view what);

}  // namespace epochcache
