// The one metadata cache (worker and client): TTL on the injected clock, LRU within a byte
// bound.
#include "common/metadata_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "support/manual_clock.h"

namespace epochcache {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using testing::ManualClock;

FileStatus FileAt(const std::string& path) { return FileStatus{path, false, 3, 0, "v-" + path}; }

TEST(MetadataCacheTest, ExpiresOnTheClockAndInvalidates) {
  ManualClock clock;
  MetadataCache cache(milliseconds(50), clock);
  FileStatus status{"/a", false, 3, 0, "v1"};
  EXPECT_FALSE(cache.Get("/a"));
  cache.Put("/a", status);
  ASSERT_TRUE(cache.Get("/a"));
  EXPECT_EQ(cache.Get("/a")->version, "v1");
  cache.Invalidate("/a");
  EXPECT_FALSE(cache.Get("/a"));
  EXPECT_EQ(cache.bytes(), 0U);
  cache.Put("/a", status);
  clock.Advance(milliseconds(49));
  EXPECT_TRUE(cache.Get("/a"));  // a hit does not extend the TTL...
  clock.Advance(milliseconds(1));
  EXPECT_FALSE(cache.Get("/a"));  // ...which ends exactly at the deadline
  EXPECT_EQ(cache.size(), 0U);
  EXPECT_EQ(cache.bytes(), 0U);
}

TEST(MetadataCacheTest, ReplacingAnEntryRestartsItsTtl) {
  ManualClock clock;
  MetadataCache cache(std::chrono::seconds(10), clock);
  cache.Put("/f", FileStatus{"/f", false, 3, 0, "v1"});
  clock.Advance(milliseconds(9999));
  cache.Put("/f", FileStatus{"/f", false, 4, 0, "v2"});
  clock.Advance(milliseconds(9999));
  ASSERT_TRUE(cache.Get("/f"));
  EXPECT_EQ(cache.Get("/f")->size, 4U);
  EXPECT_EQ(cache.Get("/f")->version, "v2");
  clock.Advance(milliseconds(1));
  EXPECT_FALSE(cache.Get("/f"));
}

TEST(MetadataCacheTest, ZeroTtlCachesNothing) {
  ManualClock clock;
  MetadataCache off(milliseconds(0), clock);
  off.Put("/a", FileAt("/a"));
  EXPECT_FALSE(off.Get("/a"));
  EXPECT_EQ(off.size(), 0U);
}

TEST(MetadataCacheTest, ManyDistinctPathsStayWithinTheByteBound) {
  ManualClock clock;
  const std::string long_tail(200, 'x');
  const std::size_t per_entry =
      MetadataCache::EntryBytes("/p/00000/" + long_tail, FileAt("/p/00000/" + long_tail));
  const std::size_t bound = 50 * per_entry;
  MetadataCache cache(hours(1), clock, bound);
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
  ManualClock clock;
  const std::size_t per_entry = MetadataCache::EntryBytes("/a", FileAt("/a"));
  MetadataCache cache(hours(1), clock, 3 * per_entry);
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
  ManualClock clock;
  MetadataCache cache(hours(1), clock, 1000);
  cache.Put("/small", FileAt("/small"));
  ASSERT_TRUE(cache.Get("/small"));
  const std::string huge = "/" + std::string(2000, 'h');
  cache.Put(huge, FileAt(huge));
  EXPECT_FALSE(cache.Get(huge));
  EXPECT_TRUE(cache.Get("/small"));  // and it evicted nothing on its way out
  EXPECT_LE(cache.bytes(), 1000U);
}

}  // namespace
}  // namespace epochcache
