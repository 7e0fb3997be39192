// Time, injected. A component that expires entries, backs off, waits or renews takes a Clock,
// so its tests step time with a manual clock (tests/support/manual_clock.h) instead of
// sleeping, and run the same under ThreadSanitizer as anywhere else. Production code passes
// Clock::Real().
//
// Thread-safety: every implementation is safe to call from many threads at once.
#pragma once

#include <chrono>

namespace epochcache {

class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  Clock() = default;
  Clock(const Clock&) = delete;
  Clock& operator=(const Clock&) = delete;
  virtual ~Clock() = default;

  // The current time on a monotonic clock.
  virtual time_point Now() = 0;
  // Blocks the calling thread for `d`; a manual clock returns once time has been advanced
  // past the deadline by another thread.
  virtual void SleepFor(duration d) = 0;

  // The process's steady clock. Lives for the whole process.
  static Clock& Real();
};

}  // namespace epochcache
