#include "common/clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "support/manual_clock.h"

namespace epochcache {
namespace {

using std::chrono::seconds;

TEST(ClockTest, RealClockIsMonotonic) {
  Clock& clock = Clock::Real();
  const auto a = clock.Now();
  EXPECT_LE(a, clock.Now());
}

TEST(ManualClockTest, SleepReturnsOnlyOnceTimeIsAdvancedPastTheDeadline) {
  testing::ManualClock clock;
  const auto start = clock.Now();
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    clock.SleepFor(seconds(10));
    woke = true;
  });
  clock.AwaitSleepers(1);
  clock.Advance(seconds(9));
  EXPECT_FALSE(woke.load());  // still short of the deadline
  clock.Advance(seconds(1));
  sleeper.join();
  EXPECT_TRUE(woke.load());
  EXPECT_EQ(clock.Now() - start, seconds(10));
}

}  // namespace
}  // namespace epochcache
