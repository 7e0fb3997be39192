// Compares the placement algorithms on what matters to a cache: how evenly keys spread
// (max/mean load), how many keys move when a worker joins or leaves (ideal: 1/N, all to or from
// that worker), and lookup cost. Deterministic: the same numbers on every run, but the
// nanoseconds, which are machine-dependent.
//
//   build/bench/bench/placement_bench [keys]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "epochcache/placement.h"

namespace {

using epochcache::BlockKey;
using epochcache::MakePlacement;
using epochcache::PlacementAlgorithm;

std::vector<std::string> Ids(int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back(fmt::format("w-{:08x}", i * 2654435761U));
  return ids;
}

struct Row {
  double max_over_mean;
  double stddev_over_mean;
  double moved_on_add;
  double misplaced_on_add;  // moved, but not to the new worker
  double ns_per_lookup;
};

Row Measure(PlacementAlgorithm algo, int workers, const std::vector<std::string>& keys) {
  const auto ids = Ids(workers);
  auto grown = ids;
  grown.push_back("w-new");
  const auto before = MakePlacement(algo, ids);
  const auto after = MakePlacement(algo, grown);
  std::vector<double> load(static_cast<std::size_t>(workers), 0);
  std::size_t moved = 0;
  std::size_t misplaced = 0;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::size_t> owners(keys.size());
  for (std::size_t k = 0; k < keys.size(); ++k) owners[k] = before->Owner(keys[k]);
  const auto t1 = std::chrono::steady_clock::now();
  for (std::size_t k = 0; k < keys.size(); ++k) {
    load[owners[k]] += 1;
    const std::size_t now = after->Owner(keys[k]);
    if (now != owners[k]) {
      ++moved;
      if (now != static_cast<std::size_t>(workers)) ++misplaced;
    }
  }
  const double mean = static_cast<double>(keys.size()) / workers;
  double var = 0;
  for (double l : load) var += (l - mean) * (l - mean);
  const double n = static_cast<double>(keys.size());
  return {*std::max_element(load.begin(), load.end()) / mean, std::sqrt(var / workers) / mean,
          static_cast<double>(moved) / n, static_cast<double>(misplaced) / n,
          std::chrono::duration<double, std::nano>(t1 - t0).count() / n};
}

}  // namespace

int main(int argc, char** argv) {
  const int num_keys = argc > 1 ? std::atoi(argv[1]) : 1'000'000;
  std::vector<std::string> keys;
  keys.reserve(static_cast<std::size_t>(num_keys));
  for (int k = 0; k < num_keys; ++k) {
    keys.push_back(BlockKey(fmt::format("s3://bucket/train/part-{:05d}.parquet", k / 16), k % 16));
  }
  fmt::print("{} keys; adding one worker to N (ideal movement: 1/(N+1), all to the new one)\n\n",
             num_keys);
  fmt::print(
      "| algorithm | N | max/mean | stddev/mean | moved on add | ideal | moved elsewhere | "
      "ns/lookup |\n");
  fmt::print("|---|---|---|---|---|---|---|---|\n");
  const std::pair<PlacementAlgorithm, const char*> algos[] = {
      {PlacementAlgorithm::kRendezvous, "rendezvous"},
      {PlacementAlgorithm::kRing, "ring (200 vnodes)"},
      {PlacementAlgorithm::kMaglev, "maglev (65537)"}};
  for (int workers : {3, 10, 100}) {
    for (const auto& [algo, name] : algos) {
      const Row r = Measure(algo, workers, keys);
      fmt::print("| {} | {} | {:.3f} | {:.3f} | {:.4f} | {:.4f} | {:.4f} | {:.0f} |\n", name,
                 workers, r.max_over_mean, r.stddev_over_mean, r.moved_on_add, 1.0 / (workers + 1),
                 r.misplaced_on_add, r.ns_per_lookup);
    }
  }
  return 0;
}
