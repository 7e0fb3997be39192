// Simulates training epochs (every page read once per epoch, in a fresh random order) against
// the replacement policies alone, without disk I/O.
#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <random>
#include <unordered_set>
#include <vector>

#include "pagestore/replacement_policy.h"

namespace epochcache::pagestore {
namespace {

constexpr std::uint64_t kPageBytes = 4096;
constexpr std::uint64_t kCachePages = 1000;

struct EpochHits {
  std::vector<double> hit_rate;  // one per epoch, epoch 1 first

  [[nodiscard]] double Mean(std::size_t first_epoch, std::size_t last_epoch) const {
    double sum = 0;
    for (std::size_t e = first_epoch; e <= last_epoch; ++e) sum += hit_rate[e - 1];
    return sum / static_cast<double>(last_epoch - first_epoch + 1);
  }
};

// Reads `dataset_pages` pages per epoch in a random permutation: a hit when resident, else
// the page is offered to the policy as the store's read-through would.
// With `restart_after_epoch` > 0 the policy is replaced by a fresh one after that epoch, given
// only the resident pages, as PageStore::Open does after a restart.
EpochHits Simulate(EvictionPolicy kind, std::uint64_t dataset_pages, int epochs,
                   int restart_after_epoch = 0) {
  auto policy = MakeReplacementPolicy(kind, kCachePages * kPageBytes, kCachePages);
  std::unordered_set<std::uint64_t> resident;
  std::vector<std::uint64_t> order(dataset_pages);
  // Keys are spread like the store's hashed page ids.
  std::iota(order.begin(), order.end(), std::uint64_t{0x5eed0000});
  std::mt19937_64 rng(42);
  EpochHits out;
  std::vector<std::uint64_t> victims;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    // Fisher-Yates with our own index draw, so the sequence is the same on every library.
    for (std::size_t i = order.size() - 1; i > 0; --i) {
      std::swap(order[i], order[rng() % (i + 1)]);
    }
    std::uint64_t hits = 0;
    for (std::uint64_t key : order) {
      if (resident.contains(key)) {
        policy->OnHit(key);
        ++hits;
        continue;
      }
      victims.clear();
      if (policy->Admit(key, kPageBytes, &victims)) {
        resident.insert(key);
        for (std::uint64_t v : victims) resident.erase(v);
      }
      EXPECT_LE(policy->used_bytes(), policy->capacity_bytes());
    }
    EXPECT_EQ(resident.size(), policy->resident_count());
    if (epoch + 1 == restart_after_epoch) {
      policy = MakeReplacementPolicy(kind, kCachePages * kPageBytes, kCachePages);
      for (std::uint64_t key : resident) policy->Restore(key, kPageBytes);
    }
    out.hit_rate.push_back(static_cast<double>(hits) / static_cast<double>(dataset_pages));
  }
  return out;
}

TEST(PolicySimulationTest, DatasetTwiceTheCacheKeepsAStableHalf) {
  const EpochHits scan = Simulate(EvictionPolicy::kScanResistant, 2 * kCachePages, 8);
  const EpochHits lru = Simulate(EvictionPolicy::kLru, 2 * kCachePages, 8);
  for (std::size_t e = 0; e < scan.hit_rate.size(); ++e) {
    RecordProperty("scan_resistant_epoch_" + std::to_string(e + 1),
                   std::to_string(scan.hit_rate[e]));
    RecordProperty("lru_epoch_" + std::to_string(e + 1), std::to_string(lru.hit_rate[e]));
  }
  // The ideal is capacity / dataset = 50%.
  EXPECT_GE(scan.Mean(2, 5), 0.40);
  EXPECT_LT(lru.Mean(2, 5), 0.20);
  // Stays stable after the sketch ages (its counts halve every 10x capacity reads).
  EXPECT_GE(scan.Mean(6, 8), 0.40);
}

TEST(PolicySimulationTest, DatasetThatFitsIsAllHitsFromEpochTwo) {
  for (EvictionPolicy kind : {EvictionPolicy::kScanResistant, EvictionPolicy::kLru}) {
    const EpochHits sim = Simulate(kind, kCachePages / 2, 5);
    EXPECT_EQ(sim.hit_rate[0], 0.0);
    for (std::size_t e = 1; e < sim.hit_rate.size(); ++e) {
      EXPECT_EQ(sim.hit_rate[e], 1.0) << EvictionPolicyName(kind) << " epoch " << e + 1;
    }
  }
}

TEST(PolicySimulationTest, StableSubsetSurvivesARestart) {
  const EpochHits scan = Simulate(EvictionPolicy::kScanResistant, 2 * kCachePages, 6, 3);
  for (std::size_t e = 2; e <= 6; ++e) EXPECT_GE(scan.hit_rate[e - 1], 0.45) << "epoch " << e;
}

TEST(PolicySimulationTest, DatasetFourTimesTheCacheStillKeepsASubset) {
  const EpochHits scan = Simulate(EvictionPolicy::kScanResistant, 4 * kCachePages, 6);
  EXPECT_GE(scan.Mean(2, 6), 0.20);  // ideal 25%
}

TEST(PolicySimulationTest, NewWorkingSetReplacesAStaleOne) {
  // After the first dataset stops being read, a second one must take over the cache.
  auto policy =
      MakeReplacementPolicy(EvictionPolicy::kScanResistant, kCachePages * kPageBytes, kCachePages);
  std::unordered_set<std::uint64_t> resident;
  std::vector<std::uint64_t> victims;
  auto read = [&](std::uint64_t key) {
    if (resident.contains(key)) {
      policy->OnHit(key);
      return true;
    }
    victims.clear();
    if (policy->Admit(key, kPageBytes, &victims)) {
      resident.insert(key);
      for (std::uint64_t v : victims) resident.erase(v);
    }
    return false;
  };
  for (int epoch = 0; epoch < 3; ++epoch) {
    for (std::uint64_t k = 0; k < kCachePages; ++k) read(k);
  }
  std::uint64_t hits = 0;
  for (int epoch = 0; epoch < 30; ++epoch) {
    for (std::uint64_t k = 0; k < kCachePages; ++k) {
      hits += read(1'000'000 + k) && epoch == 29 ? 1 : 0;
    }
  }
  EXPECT_GE(hits, kCachePages * 9 / 10);
}

}  // namespace
}  // namespace epochcache::pagestore
