#include "common/background_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "support/eventually.h"
#include "support/manual_clock.h"

namespace epochcache {
namespace {

using std::chrono::hours;
using std::chrono::seconds;
using testing::WaitUntil;

// Records when (on the clock) each step ran.
struct StepLog {
  std::mutex mu;
  std::vector<Clock::time_point> at;
  void Note(Clock& clock) {
    std::lock_guard lock(mu);
    at.push_back(clock.Now());
  }
  std::size_t size() {
    std::lock_guard lock(mu);
    return at.size();
  }
  std::vector<Clock::time_point> times() {
    std::lock_guard lock(mu);
    return at;
  }
};

TEST(BackgroundLoopTest, StepsRunOnlyOnceTheirWaitHasPassedOnTheClock) {
  testing::ManualClock clock;
  const auto start = clock.Now();
  StepLog log;
  // The step asks for a wait that grows by a second each time: 10 s, 11 s, 12 s.
  BackgroundLoop loop(clock, seconds(10), [&]() -> std::optional<Clock::duration> {
    log.Note(clock);
    return seconds(10) + seconds(static_cast<int>(log.size()) - 1) + seconds(1);
  });
  // Walk the clock forward a second at a time; each step must come exactly when its wait ends.
  for (int i = 0; i < 40 && log.size() < 3; ++i) {
    const std::size_t before = log.size();
    clock.Advance(seconds(1));
    const auto elapsed = clock.Now() - start;
    // Steps are due at 10 s, 10 + 11 = 21 s and 21 + 12 = 33 s.
    const std::size_t due = elapsed >= seconds(33)   ? 3
                            : elapsed >= seconds(21) ? 2
                            : elapsed >= seconds(10) ? 1
                                                     : 0;
    if (due > before) {
      ASSERT_TRUE(WaitUntil([&] { return log.size() == due; })) << "elapsed " << i + 1 << " s";
    }
  }
  const auto times = log.times();
  ASSERT_GE(times.size(), 3U);
  EXPECT_EQ(times[0] - start, seconds(10));
  EXPECT_EQ(times[1] - start, seconds(21));
  EXPECT_EQ(times[2] - start, seconds(33));
}

TEST(BackgroundLoopTest, AZeroFirstWaitRunsTheFirstStepAtOnceAndNulloptEndsTheLoop) {
  testing::ManualClock clock;
  std::atomic<int> steps{0};
  BackgroundLoop loop(clock, Clock::duration::zero(), [&]() -> std::optional<Clock::duration> {
    return ++steps < 3 ? std::optional<Clock::duration>(Clock::duration::zero()) : std::nullopt;
  });
  ASSERT_TRUE(WaitUntil([&] { return steps.load() == 3; }));
  clock.Advance(hours(1));
  loop.Stop();  // the thread has ended on its own; stopping it is still fine
  EXPECT_EQ(steps.load(), 3);
}

TEST(BackgroundLoopTest, StopEndsALongWaitOnTheRealClockAtOnce) {
  std::atomic<int> steps{0};
  BackgroundLoop loop(Clock::Real(), Clock::duration::zero(),
                      [&]() -> std::optional<Clock::duration> {
                        ++steps;
                        return hours(1);
                      });
  ASSERT_TRUE(WaitUntil([&] { return steps.load() == 1; }));
  // Returns now, not in an hour (a hang here is caught by the test timeout).
  loop.Stop();
  loop.Stop();  // idempotent
  EXPECT_EQ(steps.load(), 1);
}

TEST(BackgroundLoopTest, StopLetsARunningStepFinishFirst) {
  testing::ManualClock clock;
  std::atomic<bool> entered{false};
  std::atomic<bool> release{false};
  std::atomic<bool> finished{false};
  BackgroundLoop loop(clock, Clock::duration::zero(), [&]() -> std::optional<Clock::duration> {
    entered = true;
    while (!release) std::this_thread::yield();
    finished = true;
    return seconds(1);
  });
  ASSERT_TRUE(WaitUntil([&] { return entered.load(); }));
  std::thread stopper([&] { loop.Stop(); });
  release = true;
  stopper.join();
  EXPECT_TRUE(finished.load());
}

}  // namespace
}  // namespace epochcache
