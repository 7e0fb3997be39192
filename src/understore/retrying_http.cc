#include "understore/retrying_http.h"

#include <fmt/format.h>

#include <chrono>
#include <thread>

#include "understore/retry_policy.h"

namespace epochcache {

Result<HttpResponse> PerformWithRetries(CurlHttp& http, const HttpRequest& request,
                                        const UnderStoreOptions& options, const std::string& uri,
                                        const RetryableErrorFn& describe,
                                        std::atomic<std::uint64_t>* retries) {
  RetryPolicy policy(RetryOptions{options.max_attempts, std::chrono::milliseconds(100),
                                  std::chrono::milliseconds(5000), options.operation_deadline});
  const auto start = std::chrono::steady_clock::now();
  for (int attempt = 1;; ++attempt) {
    TransportError transport = TransportError::kNone;
    auto response = http.Perform(request, &transport);
    Status failure;
    if (!response.ok()) {
      if (transport == TransportError::kOverflow) return response.status().WithContext(uri);
      failure = response.status().WithContext(uri);
    } else if (response->status == 429 || response->status >= 500) {
      failure = describe(*response);
    } else {
      return response;
    }
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    const auto delay = policy.NextDelay(attempt, elapsed);
    if (!delay) {
      return Status(failure.code(), fmt::format("{} (after {} attempt{})", failure.message(),
                                                attempt, attempt == 1 ? "" : "s"));
    }
    if (retries != nullptr) retries->fetch_add(1);
    std::this_thread::sleep_for(*delay);
  }
}

}  // namespace epochcache
