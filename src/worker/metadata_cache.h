// Transitional, for tests/worker/single_flight_test.cc only: the worker's metadata cache is now
// the one in common/metadata_cache.h (shared with the client, timed by an injected Clock). This
// keeps the former spelling (a clock given as a function) until the MetadataCache tests of
// single_flight_test.cc, which moved to tests/common/metadata_cache_test.cc, are deleted there;
// then this header goes too. Nothing in src/ includes it.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <thread>
#include <utility>

#include "common/clock.h"
#include "common/metadata_cache.h"

namespace epochcache::worker {
namespace detail {

// A Clock read through a function.
class NowFnClock final : public epochcache::Clock {
 public:
  explicit NowFnClock(std::function<time_point()> now) : now_(std::move(now)) {}
  time_point Now() override { return now_(); }
  void SleepFor(duration d) override { std::this_thread::sleep_for(d); }

 private:
  std::function<time_point()> now_;
};

// Holds the clock, as a base, so that it is built before (and outlives) the cache.
struct NowFnClockHolder {
  explicit NowFnClockHolder(std::function<epochcache::Clock::time_point()> now)
      : clock(std::move(now)) {}
  NowFnClock clock;
};

}  // namespace detail

class MetadataCache : private detail::NowFnClockHolder, public epochcache::MetadataCache {
 public:
  using Clock = std::chrono::steady_clock;
  using NowFn = std::function<Clock::time_point()>;

  explicit MetadataCache(Clock::duration ttl, std::size_t max_bytes = kDefaultMaxBytes,
                         NowFn now = &Clock::now)
      : NowFnClockHolder(std::move(now)), epochcache::MetadataCache(ttl, clock, max_bytes) {}
};

}  // namespace epochcache::worker
