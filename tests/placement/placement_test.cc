#include "epochcache/placement.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace epochcache {
namespace {

std::vector<std::string> Ids(int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back(fmt::format("w-{:04d}", i));
  return ids;
}

class PlacementTest : public ::testing::TestWithParam<PlacementAlgorithm> {};

TEST_P(PlacementTest, AddingAFourthWorkerMovesAboutAQuarterOfKeysAllToIt) {
  const auto three = MakePlacement(GetParam(), Ids(3));
  const auto four = MakePlacement(GetParam(), Ids(4));
  constexpr int kKeys = 100'000;
  int moved = 0;
  int moved_between_old = 0;
  for (int k = 0; k < kKeys; ++k) {
    const std::string key = BlockKey(fmt::format("s3://b/file-{}", k), k % 7);
    const std::size_t before = three->Owner(key);
    const std::size_t after = four->Owner(key);
    if (before != after) {
      ++moved;
      if (after != 3U) ++moved_between_old;
    }
  }
  EXPECT_NEAR(static_cast<double>(moved) / kKeys, 0.25, 0.05);
  // Rendezvous and the ring move keys only to the new worker; Maglev trades a little extra
  // movement for O(1) lookups (its table is refilled), which must stay small.
  if (GetParam() == PlacementAlgorithm::kMaglev) {
    EXPECT_LT(static_cast<double>(moved_between_old) / kKeys, 0.02);
  } else {
    EXPECT_EQ(moved_between_old, 0);
  }
}

TEST_P(PlacementTest, RemovingAWorkerMovesOnlyItsKeys) {
  auto ids = Ids(10);
  const auto full = MakePlacement(GetParam(), ids);
  auto without = ids;
  without.erase(without.begin() + 4);
  const auto reduced = MakePlacement(GetParam(), without);
  int disturbed = 0;
  constexpr int kKeys = 20'000;
  for (int k = 0; k < kKeys; ++k) {
    const std::string key = fmt::format("key-{}", k);
    const std::string& before = ids[full->Owner(key)];
    const std::string& after = without[reduced->Owner(key)];
    if (before != "w-0004" && before != after) ++disturbed;
  }
  if (GetParam() == PlacementAlgorithm::kMaglev) {
    EXPECT_LT(static_cast<double>(disturbed) / kKeys, 0.02);
  } else {
    EXPECT_EQ(disturbed, 0);
  }
}

TEST_P(PlacementTest, RankGivesDistinctWorkersOwnerFirst) {
  const auto p = MakePlacement(GetParam(), Ids(5));
  for (int k = 0; k < 1000; ++k) {
    const std::string key = fmt::format("k{}", k);
    const auto rank = p->Rank(key, 5);
    ASSERT_EQ(rank.size(), 5U);
    EXPECT_EQ(rank[0], p->Owner(key));
    EXPECT_EQ(std::set<std::size_t>(rank.begin(), rank.end()).size(), 5U);
  }
  EXPECT_EQ(p->Rank("x", 10).size(), 5U);
  EXPECT_TRUE(MakePlacement(GetParam(), {})->Rank("x", 3).empty());
}

INSTANTIATE_TEST_SUITE_P(Algorithms, PlacementTest,
                         ::testing::Values(PlacementAlgorithm::kRendezvous,
                                           PlacementAlgorithm::kRing, PlacementAlgorithm::kMaglev));

// The algorithm clients use must keep the most-loaded of 100 workers within 10% of the mean.
TEST(RendezvousTest, HundredWorkersMillionKeysStayBalanced) {
  const auto p = MakePlacement(PlacementAlgorithm::kRendezvous, Ids(100));
  std::vector<int> load(100, 0);
  constexpr int kKeys = 1'000'000;
  for (int k = 0; k < kKeys; ++k) ++load[p->Owner(BlockKey("s3://bucket/train/part", k))];
  const double mean = kKeys / 100.0;
  const int max = *std::max_element(load.begin(), load.end());
  EXPECT_LE(max / mean, 1.05) << "max " << max << " mean " << mean;
}

// Successors stay stable too: when the owner is down, every client picks the same next worker,
// and it is the one that would own the key if the owner left.
TEST(RendezvousTest, SecondChoiceIsTheOwnerWithoutTheFirst) {
  auto ids = Ids(6);
  const auto full = MakePlacement(PlacementAlgorithm::kRendezvous, ids);
  for (int k = 0; k < 2000; ++k) {
    const std::string key = fmt::format("k{}", k);
    const auto rank = full->Rank(key, 2);
    auto without = ids;
    without.erase(without.begin() + static_cast<std::ptrdiff_t>(rank[0]));
    const auto reduced = MakePlacement(PlacementAlgorithm::kRendezvous, without);
    EXPECT_EQ(ids[rank[1]], without[reduced->Owner(key)]);
  }
}

}  // namespace
}  // namespace epochcache
