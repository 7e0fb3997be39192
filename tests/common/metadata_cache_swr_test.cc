// MetadataCache's stale-while-revalidate: fresh for the TTL, then served stale (one caller told
// to refresh) until the stale limit, then gone; immutable and pinned entries never go stale.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "common/metadata_cache.h"
#include "support/manual_clock.h"

namespace epochcache {
namespace {

using std::chrono::seconds;
using testing::ManualClock;

FileStatus File(const std::string& path, const std::string& version) {
  return FileStatus{path, false, 3, 0, version};
}

TEST(MetadataCacheSwrTest, StaleAfterTheTtlWithOneRefresherUntilTheLimit) {
  ManualClock clock;
  MetadataCache cache(seconds(10), clock, MetadataCache::kDefaultMaxBytes, seconds(30));
  cache.Put("/f", File("/f", "v1"));
  auto fresh = cache.Lookup("/f");
  ASSERT_TRUE(fresh);
  EXPECT_FALSE(fresh->stale);
  EXPECT_FALSE(fresh->refresh);

  clock.Advance(seconds(10));
  EXPECT_FALSE(cache.Get("/f"));  // Get never serves a stale status...
  auto first = cache.Lookup("/f");
  ASSERT_TRUE(first);  // ...Lookup does, and tells one caller to refresh
  EXPECT_TRUE(first->stale);
  EXPECT_TRUE(first->refresh);
  auto second = cache.Lookup("/f");
  ASSERT_TRUE(second);
  EXPECT_TRUE(second->stale);
  EXPECT_FALSE(second->refresh);
  cache.EndRefresh("/f");  // the refresh failed: the next lookup may try again
  EXPECT_TRUE(cache.Lookup("/f")->refresh);

  cache.Put("/f", File("/f", "v2"));  // a refresh landed: fresh again
  auto refreshed = cache.Lookup("/f");
  EXPECT_FALSE(refreshed->stale);
  EXPECT_EQ(refreshed->status.version, "v2");

  clock.Advance(seconds(39));
  EXPECT_TRUE(cache.Lookup("/f"));
  clock.Advance(seconds(1));
  EXPECT_FALSE(cache.Lookup("/f"));  // past ttl + max_stale: gone
  EXPECT_EQ(cache.size(), 0U);
}

TEST(MetadataCacheSwrTest, ImmutableAndPinnedEntriesStayFresh) {
  ManualClock clock;
  MetadataCache cache(seconds(10), clock, MetadataCache::kDefaultMaxBytes, seconds(30));
  cache.Put("/i", File("/i", "c1"), {.listed_in = {}, .recursive = false, .immutable = true});
  cache.Put("/p", File("/p", "v1"));
  clock.Advance(seconds(3600));
  ASSERT_TRUE(cache.Get("/i"));
  auto immutable = cache.Lookup("/i");
  ASSERT_TRUE(immutable);
  EXPECT_FALSE(immutable->stale);
  EXPECT_FALSE(immutable->refresh);
  auto pinned = cache.Lookup("/p", "v1");
  ASSERT_TRUE(pinned);
  EXPECT_FALSE(pinned->stale);
  EXPECT_FALSE(cache.Lookup("/p", "v0"));  // another version: the entry is past its limit
}

TEST(MetadataCacheSwrTest, RemembersTheListingAStatusCameFrom) {
  ManualClock clock;
  MetadataCache cache(seconds(10), clock, MetadataCache::kDefaultMaxBytes, seconds(30));
  cache.Put("/d/a", File("/d/a", "v1"), {.listed_in = "/d", .recursive = true, .immutable = false});
  auto found = cache.Lookup("/d/a");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->origin.listed_in, "/d");
  EXPECT_TRUE(found->origin.recursive);
  EXPECT_EQ(cache.bytes(), MetadataCache::EntryBytes("/d/a", found->status, "/d"));
}

TEST(MetadataCacheSwrTest, ZeroMaxStaleMeansExpiryAtTheTtl) {
  ManualClock clock;
  MetadataCache cache(seconds(10), clock);
  cache.Put("/f", File("/f", "v1"));
  clock.Advance(seconds(10));
  EXPECT_FALSE(cache.Lookup("/f"));
  EXPECT_EQ(cache.size(), 0U);
}

}  // namespace
}  // namespace epochcache
