#include "understore/retrying_http.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>

#include "understore/remote_errors.h"
#include "understore/retry_policy.h"

namespace epochcache {

std::string HeaderValue(const HttpResponse& response, const std::string& name) {
  auto it = response.headers.find(name);
  return it == response.headers.end() ? std::string() : it->second;
}

Result<std::uint64_t> HeaderNumber(const HttpResponse& response, const std::string& name,
                                   std::string_view uri, bool required) {
  const auto it = response.headers.find(name);
  if (it == response.headers.end()) {
    if (!required) return std::uint64_t{0};
    return Status::IoError(fmt::format("{}: the server sent no {} header", uri, name));
  }
  const std::string& text = it->second;
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return Status::IoError(
        fmt::format("{}: the server sent a {} header that is not a number "
                    "of bytes ('{:.40}')",
                    uri, name, text));
  }
  return value;
}

std::optional<std::chrono::milliseconds> RetryAfter(const HttpResponse& response) {
  if (response.status != 429 && response.status != 503) return std::nullopt;
  const std::string text = HeaderValue(response, "retry-after");
  if (text.empty()) return std::nullopt;
  std::uint64_t seconds = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (ec == std::errc() && end == text.data() + text.size()) {
    return std::chrono::milliseconds(std::min<std::uint64_t>(seconds, 86400) * 1000);
  }
  const time_t when = curl_getdate(text.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  const auto wait = std::chrono::system_clock::from_time_t(when) - std::chrono::system_clock::now();
  return std::max(std::chrono::milliseconds(0),
                  std::chrono::duration_cast<std::chrono::milliseconds>(wait));
}

Result<HttpResponse> PerformWithRetries(CurlHttp& http, HttpRequest request,
                                        const UnderStoreOptions& options, const std::string& uri,
                                        const RetryableErrorFn& describe,
                                        std::atomic<std::uint64_t>* retries, Clock& clock) {
  request.connect_timeout = options.connect_timeout;
  request.timeout = options.request_timeout;
  RetryPolicy policy(RetryOptions{options.max_attempts, std::chrono::milliseconds(100),
                                  std::chrono::milliseconds(5000), options.operation_deadline});
  const auto start = clock.Now();
  for (int attempt = 1;; ++attempt) {
    TransportError transport = TransportError::kNone;
    auto response = http.Perform(request, &transport);
    Status failure;
    if (!response.ok()) {
      // Too many bytes, or a request that went elsewhere than asked: retrying cannot help.
      if (transport == TransportError::kOverflow ||
          response.status().code() == StatusCode::kPermissionDenied) {
        return response.status().WithContext(uri);
      }
      failure = response.status().WithContext(uri);
    } else if (response->status == 429 || response->status >= 500) {
      failure = describe(*response);
    } else {
      return response;
    }
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now() - start);
    auto delay = policy.NextDelay(attempt, elapsed);
    if (delay && response.ok()) {
      if (const auto asked = RetryAfter(*response)) {
        if (elapsed + *asked >= options.operation_deadline) {
          delay.reset();
        } else {
          delay = std::max(*delay, *asked);
        }
      }
    }
    if (!delay) {
      return Status(failure.code(), fmt::format("{} (after {} attempt{})", failure.message(),
                                                attempt, attempt == 1 ? "" : "s"));
    }
    if (retries != nullptr) retries->fetch_add(1);
    clock.SleepFor(*delay);
  }
}

Result<HttpResponse> PerformFollowingRedirects(CurlHttp& http, const HttpRequest& request,
                                               const std::string& url,
                                               const std::string& home_origin, int max_redirects,
                                               const AuthorizeHopFn& authorize,
                                               const UnderStoreOptions& options,
                                               const RetryableErrorFn& describe,
                                               std::atomic<std::uint64_t>* retries) {
  std::string current = url;
  for (int hop = 0;; ++hop) {
    EC_ASSIGN_OR_RETURN(const UrlParts parts, ParseHttpUrl(current));
    HttpRequest attempt = request;
    attempt.url = current;
    if (authorize) authorize(attempt, parts.Origin() == home_origin);
    EC_ASSIGN_OR_RETURN(HttpResponse response,
                        PerformWithRetries(http, attempt, options, url, describe, retries));
    const std::string location = HeaderValue(response, "location");
    if (!IsHttpRedirect(response.status) || location.empty()) return response;
    if (hop == max_redirects) {
      return Status::IoError(fmt::format("{}: more than {} redirects", url, max_redirects));
    }
    EC_ASSIGN_OR_RETURN(std::string next, ResolveRedirect(current, location));
    auto next_parts = ParseHttpUrl(next);
    if (!next_parts.ok()) {
      return Status::PermissionDenied(
          fmt::format("{}: refused redirect to '{}' (only http and https are followed)", url,
                      RedactUserinfo(next)));
    }
    if (!next_parts->user.empty() || (parts.scheme == "https" && next_parts->scheme == "http")) {
      return Status::PermissionDenied(
          fmt::format("{}: refused redirect to '{}' (credentials in a redirect, or https to http)",
                      url, RedactUserinfo(next)));
    }
    current = std::move(next);
  }
}

Result<std::optional<std::size_t>> RangedReadBytes(const Result<HttpResponse>& response,
                                                   std::uint64_t offset, std::string_view what) {
  const auto ignored = [&] {
    return Status::IoError(fmt::format(
        "{}: the server ignored the Range header (it would send the whole object for a range)",
        what));
  };
  if (!response.ok()) {
    // CurlHttp refuses a body larger than the buffer: the whole object for a range.
    if (response.status().message().find("more bytes than") != std::string::npos) {
      return ignored();
    }
    return response.status();
  }
  switch (response->status) {
    case 206:
      return std::optional<std::size_t>(response->body_bytes);
    case 200:
      if (offset == 0) return std::optional<std::size_t>(response->body_bytes);
      return ignored();
    case 416:
      return std::optional<std::size_t>(0);
    default:
      return std::optional<std::size_t>();
  }
}

}  // namespace epochcache
