#include "worker/single_flight.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <latch>
#include <thread>
#include <vector>

#include "worker/metadata_cache.h"

namespace epochcache::worker {
namespace {

using std::chrono::milliseconds;

// Spins (yielding) until `done()` holds, at most ten seconds; returns whether it held. A bound
// on a hung test, not a timing assumption: the condition normally holds within microseconds.
template <typename Fn>
bool WaitUntil(Fn&& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

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

// A clock the test moves by hand, so TTLs are tested without sleeping.
struct ManualClock {
  MetadataCache::Clock::time_point now = MetadataCache::Clock::now();
  MetadataCache::NowFn fn() {
    return [this] { return now; };
  }
};

FileStatus FileAt(const std::string& path) { return FileStatus{path, false, 3, 0, "v-" + path}; }

TEST(MetadataCacheTest, ExpiresAndInvalidates) {
  ManualClock clock;
  MetadataCache cache(milliseconds(50), MetadataCache::kDefaultMaxBytes, clock.fn());
  FileStatus status{"/a", false, 3, 0, "v1"};
  EXPECT_FALSE(cache.Get("/a"));
  cache.Put("/a", status);
  ASSERT_TRUE(cache.Get("/a"));
  EXPECT_EQ(cache.Get("/a")->version, "v1");
  cache.Invalidate("/a");
  EXPECT_FALSE(cache.Get("/a"));
  EXPECT_EQ(cache.bytes(), 0U);
  cache.Put("/a", status);
  clock.now += milliseconds(49);
  EXPECT_TRUE(cache.Get("/a"));  // a hit does not extend the TTL...
  clock.now += milliseconds(1);
  EXPECT_FALSE(cache.Get("/a"));  // ...which ends exactly at the deadline
  EXPECT_EQ(cache.size(), 0U);
  EXPECT_EQ(cache.bytes(), 0U);
}

TEST(MetadataCacheTest, ZeroTtlCachesNothing) {
  MetadataCache off(milliseconds(0));
  off.Put("/a", FileStatus{});
  EXPECT_FALSE(off.Get("/a"));
  EXPECT_EQ(off.size(), 0U);
}

TEST(MetadataCacheTest, ManyDistinctPathsStayWithinTheByteBound) {
  const std::string long_tail(200, 'x');
  const std::size_t per_entry =
      MetadataCache::EntryBytes("/p/00000/" + long_tail, FileAt("/p/00000/" + long_tail));
  const std::size_t bound = 50 * per_entry;
  MetadataCache cache(std::chrono::hours(1), bound);
  constexpr int kPaths = 20000;
  std::size_t max_seen = 0;
  for (int i = 0; i < kPaths; ++i) {
    char prefix[16];
    std::snprintf(prefix, sizeof prefix, "/p/%05d/", i);
    const std::string path = prefix + long_tail;
    cache.Put(path, FileAt(path));
    max_seen = std::max(max_seen, cache.bytes());
  }
  EXPECT_LE(max_seen, bound);
  EXPECT_EQ(cache.size(), 50U);  // every entry costs the same, so exactly 50 fit
  // The newest 50 are kept, everything older was evicted.
  char prefix[16];
  std::snprintf(prefix, sizeof prefix, "/p/%05d/", kPaths - 1);
  EXPECT_TRUE(cache.Get(prefix + long_tail));
  std::snprintf(prefix, sizeof prefix, "/p/%05d/", kPaths - 50);
  EXPECT_TRUE(cache.Get(prefix + long_tail));
  std::snprintf(prefix, sizeof prefix, "/p/%05d/", kPaths - 51);
  EXPECT_FALSE(cache.Get(prefix + long_tail));
  std::snprintf(prefix, sizeof prefix, "/p/%05d/", 0);
  EXPECT_FALSE(cache.Get(prefix + long_tail));
}

TEST(MetadataCacheTest, EvictsTheLeastRecentlyUsed) {
  const std::size_t per_entry = MetadataCache::EntryBytes("/a", FileAt("/a"));
  MetadataCache cache(std::chrono::hours(1), 3 * per_entry);
  cache.Put("/a", FileAt("/a"));
  cache.Put("/b", FileAt("/b"));
  cache.Put("/c", FileAt("/c"));
  ASSERT_TRUE(cache.Get("/a"));  // now /b is the least recently used
  cache.Put("/d", FileAt("/d"));
  EXPECT_FALSE(cache.Get("/b"));
  EXPECT_TRUE(cache.Get("/a"));
  EXPECT_TRUE(cache.Get("/c"));
  EXPECT_TRUE(cache.Get("/d"));
  // Replacing an entry charges it once, and makes it the most recently used.
  cache.Put("/a", FileAt("/a"));
  EXPECT_EQ(cache.size(), 3U);
  EXPECT_EQ(cache.bytes(), 3 * per_entry);
  cache.Put("/e", FileAt("/e"));  // evicts /c, the least recently used now
  EXPECT_FALSE(cache.Get("/c"));
  EXPECT_TRUE(cache.Get("/a"));
}

TEST(MetadataCacheTest, AnEntryLargerThanTheBoundIsNotCached) {
  MetadataCache cache(std::chrono::hours(1), 1000);
  cache.Put("/small", FileAt("/small"));
  ASSERT_TRUE(cache.Get("/small"));
  const std::string huge = "/" + std::string(2000, 'h');
  cache.Put(huge, FileAt(huge));
  EXPECT_FALSE(cache.Get(huge));
  EXPECT_TRUE(cache.Get("/small"));  // and it evicted nothing on its way out
  EXPECT_LE(cache.bytes(), 1000U);
}

}  // namespace
}  // namespace epochcache::worker
