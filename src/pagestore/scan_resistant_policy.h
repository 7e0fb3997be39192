// LRU recency plus frequency-based admission (in the spirit of TinyLFU), so that a cyclic
// scan larger than the cache keeps a stable subset cached instead of thrashing.
//
// While the dir has room, every page is admitted. Once it is full, a missed page is admitted
// only if it was seen more often *before this access* than each least-recently-used page it
// would evict, or if those pages have not been seen at all since the sketch last aged. In a
// training epoch every page is read once, so a page outside the cache never beats a resident
// one, and the residents stay: hit rate ≈ capacity / dataset. A page that is genuinely read
// more often than the residents still gets in, and a resident set that stops being read ages
// out (its counts halve to zero) and is replaced.
#pragma once

#include "pagestore/frequency_sketch.h"
#include "pagestore/lru_policy.h"

namespace epochcache::pagestore {

class ScanResistantPolicy : public LruPolicy {
 public:
  ScanResistantPolicy(std::uint64_t capacity_bytes, std::uint64_t expected_pages)
      : LruPolicy(capacity_bytes), sketch_(expected_pages) {}

  void OnHit(std::uint64_t key) override;
  bool Admit(std::uint64_t key, std::uint64_t bytes, std::vector<std::uint64_t>* victims) override;
  // A page that survived a restart counts as seen once, so the first epoch after a restart
  // does not trade the recovered subset for pages it has not seen more often.
  void Restore(std::uint64_t key, std::uint64_t bytes) override;

 private:
  FrequencySketch sketch_;
};

}  // namespace epochcache::pagestore
