// When and how long to wait before retrying a remote request: exponential backoff with full
// jitter, bounded by an attempt count and an overall deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>

namespace epochcache {

struct RetryOptions {
  int max_attempts = 5;
  std::chrono::milliseconds base_delay{100};
  std::chrono::milliseconds max_delay{5000};
  // No attempt starts after this much time has passed since the first.
  std::chrono::milliseconds deadline{60000};
};

class RetryPolicy {
 public:
  explicit RetryPolicy(RetryOptions options, std::uint64_t seed = std::random_device{}())
      : options_(options), rng_(seed) {}

  // The delay before attempt number `attempt + 1` (attempts count from 1), or nullopt when no
  // further attempt should be made: out of attempts, or the delay would pass the deadline.
  std::optional<std::chrono::milliseconds> NextDelay(int attempt,
                                                     std::chrono::milliseconds elapsed);

  [[nodiscard]] const RetryOptions& options() const { return options_; }

 private:
  RetryOptions options_;
  std::mt19937_64 rng_;
};

}  // namespace epochcache
