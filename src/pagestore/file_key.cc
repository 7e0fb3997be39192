// MakeFileKey and the names of the eviction policies: small public helpers of page_store.h.
#include <xxhash.h>

#include <string>

#include "epochcache/page_store.h"

namespace epochcache {

std::string MakeFileKey(std::string_view path, std::string_view version) {
  // The NUL separator keeps ("a", "bc") and ("ab", "c") apart; paths cannot contain NUL.
  std::string input;
  input.reserve(path.size() + 1 + version.size());
  input.append(path).push_back('\0');
  input.append(version);
  const XXH128_hash_t hash = XXH3_128bits(input.data(), input.size());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {  // high 64 bits first: the canonical (big-endian) order
    const int shift = 60 - 4 * i;
    out[i] = kHex[(hash.high64 >> shift) & 0xf];
    out[16 + i] = kHex[(hash.low64 >> shift) & 0xf];
  }
  return out;
}

std::string_view EvictionPolicyName(EvictionPolicy policy) {
  switch (policy) {
    case EvictionPolicy::kLru:
      return "lru";
    case EvictionPolicy::kScanResistant:
      return "scan-resistant";
  }
  return "unknown";
}

Result<EvictionPolicy> ParseEvictionPolicy(std::string_view name) {
  for (EvictionPolicy p : {EvictionPolicy::kLru, EvictionPolicy::kScanResistant}) {
    if (name == EvictionPolicyName(p)) return p;
  }
  return Status::InvalidArgument("unknown eviction policy '" + std::string(name) +
                                 "' (expected 'lru' or 'scan-resistant')");
}

}  // namespace epochcache
