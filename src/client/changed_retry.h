// The client's one policy for an object that changes under a read: forget what is known of it
// and start over, within one budget of attempts. Callers above the client (the Python module)
// rely on it rather than retrying themselves.
#pragma once

#include <fmt/format.h>

#include <string_view>
#include <utility>

#include "epochcache/status.h"

namespace epochcache::client {

// Attempts in all (the first one included) before a changing object is reported as changed.
inline constexpr int kMaxChangedAttempts = 3;

// Calls `attempt()` (returning Result<T>) until it ends with anything but kChanged, calling
// `forget()` after each kChanged, at most kMaxChangedAttempts times.
template <typename Attempt, typename Forget>
auto RetryWhileChanged(std::string_view path, Attempt&& attempt, Forget&& forget)
    -> decltype(attempt()) {
  for (int n = 1;; ++n) {
    auto r = attempt();
    if (r.ok() || r.status().code() != StatusCode::kChanged) return r;
    forget();
    if (n >= kMaxChangedAttempts) {
      return r.status().WithContext(
          fmt::format("{} kept changing while being read ({} attempts)", path, n));
    }
  }
}

}  // namespace epochcache::client
