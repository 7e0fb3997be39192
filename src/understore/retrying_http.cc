#include "understore/retrying_http.h"

#include <fmt/format.h>

#include <charconv>
#include <chrono>

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

Result<HttpResponse> PerformWithRetries(CurlHttp& http, const HttpRequest& request,
                                        const UnderStoreOptions& options, const std::string& uri,
                                        const RetryableErrorFn& describe,
                                        std::atomic<std::uint64_t>* retries, Clock& clock) {
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
    const auto delay = policy.NextDelay(attempt, elapsed);
    if (!delay) {
      return Status(failure.code(), fmt::format("{} (after {} attempt{})", failure.message(),
                                                attempt, attempt == 1 ? "" : "s"));
    }
    if (retries != nullptr) retries->fetch_add(1);
    clock.SleepFor(*delay);
  }
}

}  // namespace epochcache
