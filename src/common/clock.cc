#include "common/clock.h"

#include <thread>

namespace epochcache {
namespace {

class RealClock final : public Clock {
 public:
  time_point Now() override { return std::chrono::steady_clock::now(); }
  void SleepFor(duration d) override { std::this_thread::sleep_for(d); }
};

}  // namespace

Clock& Clock::Real() {
  static RealClock clock;
  return clock;
}

}  // namespace epochcache
