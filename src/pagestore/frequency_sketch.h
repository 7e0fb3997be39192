// An approximate, aging access counter (a count-min sketch with small saturating counters),
// as in TinyLFU: memory proportional to the cache's page count, not the dataset's.
#pragma once

#include <cstdint>
#include <vector>

namespace epochcache::pagestore {

class FrequencySketch {
 public:
  // Sized for about `expected_keys` distinct hot keys. Counts halve after 10x that many
  // increments, so the sketch forgets the past at a rate tied to the cache size.
  explicit FrequencySketch(std::uint64_t expected_keys);

  void Increment(std::uint64_t key);
  // An estimate of how often `key` was seen recently: never lower than the truth (up to the
  // saturation at kMaxCount and the periodic halving), higher only on hash collisions.
  [[nodiscard]] std::uint32_t Estimate(std::uint64_t key) const;

  static constexpr std::uint8_t kMaxCount = 15;

 private:
  static constexpr int kDepth = 4;

  [[nodiscard]] std::uint64_t Slot(std::uint64_t key, int row) const;
  void Halve();

  std::uint64_t width_mask_;
  std::vector<std::uint8_t> counters_;  // kDepth rows of width_mask_ + 1
  std::uint64_t samples_ = 0;
  std::uint64_t sample_limit_;
};

}  // namespace epochcache::pagestore
