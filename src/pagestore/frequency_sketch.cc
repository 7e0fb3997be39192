#include "pagestore/frequency_sketch.h"

#include <algorithm>
#include <bit>

namespace epochcache::pagestore {
namespace {

std::uint64_t Mix(std::uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

FrequencySketch::FrequencySketch(std::uint64_t expected_keys) {
  // 8 counters per expected key and row keeps collisions rare enough that a stable subset
  // is not churned by keys that merely look frequent.
  const std::uint64_t width = std::bit_ceil(std::max<std::uint64_t>(64, expected_keys * 8));
  width_mask_ = width - 1;
  counters_.assign(width * kDepth, 0);
  sample_limit_ = std::max<std::uint64_t>(expected_keys, 16) * 10;
}

std::uint64_t FrequencySketch::Slot(std::uint64_t key, int row) const {
  const std::uint64_t h = Mix(key);
  const std::uint64_t step = Mix(h) | 1;  // double hashing: independent-enough rows
  const auto r = static_cast<std::uint64_t>(row);
  return r * (width_mask_ + 1) + ((h + r * step) & width_mask_);
}

std::uint32_t FrequencySketch::Estimate(std::uint64_t key) const {
  std::uint32_t best = kMaxCount;
  for (int row = 0; row < kDepth; ++row) {
    best = std::min<std::uint32_t>(best, counters_[Slot(key, row)]);
  }
  return best;
}

void FrequencySketch::Increment(std::uint64_t key) {
  // Conservative update: only the counters at the minimum grow, which keeps estimates of
  // colliding keys from inflating each other.
  const std::uint32_t current = Estimate(key);
  if (current < kMaxCount) {
    for (int row = 0; row < kDepth; ++row) {
      std::uint8_t& c = counters_[Slot(key, row)];
      if (c == current) ++c;
    }
  }
  if (++samples_ >= sample_limit_) Halve();
}

void FrequencySketch::Halve() {
  for (std::uint8_t& c : counters_) c = static_cast<std::uint8_t>(c / 2);
  samples_ /= 2;
}

}  // namespace epochcache::pagestore
