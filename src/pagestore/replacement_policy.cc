#include "pagestore/replacement_policy.h"

#include "pagestore/lru_policy.h"
#include "pagestore/scan_resistant_policy.h"

namespace epochcache::pagestore {

std::unique_ptr<ReplacementPolicy> MakeReplacementPolicy(EvictionPolicy kind,
                                                         std::uint64_t capacity_bytes,
                                                         std::uint64_t expected_pages) {
  switch (kind) {
    case EvictionPolicy::kLru:
      return std::make_unique<LruPolicy>(capacity_bytes);
    case EvictionPolicy::kScanResistant:
      break;
  }
  return std::make_unique<ScanResistantPolicy>(capacity_bytes, expected_pages);
}

}  // namespace epochcache::pagestore
