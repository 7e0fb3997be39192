#include "worker/single_flight.h"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <thread>
#include <vector>

#include "worker/metadata_cache.h"

namespace epochcache::worker {
namespace {

using std::chrono::milliseconds;

TEST(SingleFlightTest, ConcurrentCallersShareOneExecution) {
  SingleFlight<int> flight;
  std::atomic<int> runs{0};
  std::atomic<int> joined{0};
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
  std::atomic<int> started{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&] {
      started.fetch_add(1);
      bool was_joined = false;
      auto r = flight.Do(
          "k", milliseconds(10000),
          [&]() -> Result<int> {
            runs.fetch_add(1);
            return -1;
          },
          &was_joined);
      ASSERT_TRUE(r.ok());
      // A joiner gets the leader's value; only a caller arriving after the flight ran its own.
      EXPECT_EQ(*r, was_joined ? 42 : -1);
      if (was_joined) joined.fetch_add(1);
    });
  }
  while (started.load() < kWaiters) std::this_thread::yield();
  // The flight stays open until released, so every waiter that reached Do has joined it.
  std::this_thread::sleep_for(milliseconds(300));
  release.count_down();
  leader.join();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(runs.load(), 1 + (kWaiters - joined.load()));
  EXPECT_GT(joined.load(), 0);
  EXPECT_EQ(flight.in_flight(), 0U);
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

TEST(MetadataCacheTest, ExpiresAndInvalidates) {
  MetadataCache cache(milliseconds(50));
  FileStatus status{"/a", false, 3, 0, "v1"};
  EXPECT_FALSE(cache.Get("/a"));
  cache.Put("/a", status);
  ASSERT_TRUE(cache.Get("/a"));
  EXPECT_EQ(cache.Get("/a")->version, "v1");
  cache.Invalidate("/a");
  EXPECT_FALSE(cache.Get("/a"));
  cache.Put("/a", status);
  std::this_thread::sleep_for(milliseconds(80));
  EXPECT_FALSE(cache.Get("/a"));
}

TEST(MetadataCacheTest, ZeroTtlCachesNothingAndFullCacheIsCleared) {
  MetadataCache off(milliseconds(0));
  off.Put("/a", FileStatus{});
  EXPECT_FALSE(off.Get("/a"));
  MetadataCache small(std::chrono::seconds(10), 2);
  small.Put("/a", FileStatus{});
  small.Put("/b", FileStatus{});
  small.Put("/c", FileStatus{});  // full: cleared, then /c stored
  EXPECT_FALSE(small.Get("/a"));
  EXPECT_TRUE(small.Get("/c"));
}

}  // namespace
}  // namespace epochcache::worker
