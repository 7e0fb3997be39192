#include "understore/retry_policy.h"

#include <algorithm>

namespace epochcache {

std::optional<std::chrono::milliseconds> RetryPolicy::NextDelay(int attempt,
                                                                std::chrono::milliseconds elapsed) {
  if (attempt >= options_.max_attempts) return std::nullopt;
  // Full jitter: a uniform delay in [0, min(max, base * 2^(attempt-1))], so many clients that
  // failed together do not retry together.
  const int shift = std::min(attempt - 1, 20);
  const auto ceiling =
      std::min<std::int64_t>(options_.max_delay.count(), options_.base_delay.count() << shift);
  std::uniform_int_distribution<std::int64_t> pick(0, std::max<std::int64_t>(ceiling, 0));
  const std::chrono::milliseconds delay{pick(rng_)};
  if (elapsed + delay >= options_.deadline) return std::nullopt;
  return delay;
}

}  // namespace epochcache
