#include "pagestore/scan_resistant_policy.h"

namespace epochcache::pagestore {

void ScanResistantPolicy::OnHit(std::uint64_t key) {
  sketch_.Increment(key);
  LruPolicy::OnHit(key);
}

void ScanResistantPolicy::Restore(std::uint64_t key, std::uint64_t bytes) {
  sketch_.Increment(key);
  LruPolicy::Restore(key, bytes);
}

bool ScanResistantPolicy::Admit(std::uint64_t key, std::uint64_t bytes,
                                std::vector<std::uint64_t>* victims) {
  // Compare the count from before this access: the access that missed would otherwise give
  // every page of a scan a one-count edge over residents it has not reached yet this epoch.
  const std::uint32_t prior = sketch_.Estimate(key);
  sketch_.Increment(key);
  if (bytes > capacity_bytes()) return false;
  const std::vector<std::uint64_t> candidates = EvictionCandidates(bytes);
  for (std::uint64_t victim : candidates) {
    const std::uint32_t victim_count = sketch_.Estimate(victim);
    if (victim_count != 0 && prior <= victim_count) return false;
  }
  return LruPolicy::Admit(key, bytes, victims);
}

}  // namespace epochcache::pagestore
