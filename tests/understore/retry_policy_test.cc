#include "understore/retry_policy.h"

#include <gtest/gtest.h>

#include <set>

namespace epochcache {
namespace {

using std::chrono::milliseconds;

TEST(RetryPolicyTest, BackoffGrowsWithinJitterBoundsAndStops) {
  RetryPolicy policy({5, milliseconds(100), milliseconds(1000), milliseconds(60000)}, 42);
  for (int attempt = 1; attempt < 5; ++attempt) {
    auto d = policy.NextDelay(attempt, milliseconds(0));
    ASSERT_TRUE(d.has_value());
    EXPECT_LE(d->count(), std::min(1000, 100 << (attempt - 1)));
  }
  EXPECT_FALSE(policy.NextDelay(5, milliseconds(0)).has_value());
}

TEST(RetryPolicyTest, JitterSpreadsDelays) {
  RetryPolicy policy({10, milliseconds(1000), milliseconds(1000), milliseconds(600000)}, 7);
  std::set<std::int64_t> seen;
  for (int i = 0; i < 20; ++i) seen.insert(policy.NextDelay(1, milliseconds(0))->count());
  EXPECT_GT(seen.size(), 10U);
}

TEST(RetryPolicyTest, NoRetryPastTheDeadline) {
  RetryPolicy policy({10, milliseconds(100), milliseconds(100), milliseconds(1000)}, 1);
  EXPECT_FALSE(policy.NextDelay(1, milliseconds(1000)).has_value());
}

}  // namespace
}  // namespace epochcache
