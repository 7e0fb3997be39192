#include "worker/single_flight.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <latch>
#include <thread>
#include <vector>

#include "support/eventually.h"

namespace epochcache::worker {
namespace {

using std::chrono::milliseconds;

using testing::WaitUntil;

TEST(SingleFlightTest, ConcurrentCallersShareOneExecution) {
  SingleFlight<int> flight;
  std::atomic<int> runs{0};
  std::latch leader_running(1);
  std::latch release(1);
  std::thread leader([&] {
    auto r = flight.Do("k", milliseconds(10000), [&]() -> Result<int> {
      runs.fetch_add(1);
      leader_running.count_down();
      release.wait();
      return 42;
    });
    EXPECT_EQ(*r, 42);
  });
  leader_running.wait();
  constexpr int kWaiters = 8;
  std::atomic<int> joined{0};
  std::atomic<int> got_leaders_value{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&] {
      bool was_joined = false;
      auto r = flight.Do(
          "k", milliseconds(10000),
          [&]() -> Result<int> {
            runs.fetch_add(1);
            return -1;
          },
          &was_joined);
      if (was_joined) joined.fetch_add(1);
      if (r.ok() && *r == 42) got_leaders_value.fetch_add(1);
    });
  }
  // The leader is held until every waiter has joined its flight, so none may run its own fn.
  const bool all_joined = WaitUntil([&] { return flight.waiters("k") == kWaiters; });
  release.count_down();
  leader.join();
  for (auto& t : waiters) t.join();
  ASSERT_TRUE(all_joined) << "only " << flight.waiters("k") << " waiters joined";
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(joined.load(), kWaiters);
  EXPECT_EQ(got_leaders_value.load(), kWaiters);
  EXPECT_EQ(flight.in_flight(), 0U);
  EXPECT_EQ(flight.waiters("k"), 0U);
}

TEST(SingleFlightTest, WaitersGiveUpAfterTheBound) {
  SingleFlight<int> flight;
  std::latch leader_running(1);
  std::latch release(1);
  std::thread leader([&] {
    (void)flight.Do("k", milliseconds(10000), [&]() -> Result<int> {
      leader_running.count_down();
      release.wait();
      return 1;
    });
  });
  leader_running.wait();
  auto r = flight.Do("k", milliseconds(50), []() -> Result<int> { return 2; });
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout);
  release.count_down();
  leader.join();
}

TEST(SingleFlightTest, ErrorsAndExceptionsReachEveryCaller) {
  SingleFlight<int> flight;
  auto failed = flight.Do("k", milliseconds(10),
                          []() -> Result<int> { return Status::IoError("remote failed"); });
  EXPECT_EQ(failed.status().code(), StatusCode::kIoError);
  auto thrown =
      flight.Do("k", milliseconds(10), []() -> Result<int> { throw std::runtime_error("boom"); });
  EXPECT_EQ(thrown.status().code(), StatusCode::kInternal);
  EXPECT_EQ(flight.in_flight(), 0U);
  EXPECT_EQ(*flight.Do("k", milliseconds(10), []() -> Result<int> { return 3; }), 3);
}

}  // namespace
}  // namespace epochcache::worker
