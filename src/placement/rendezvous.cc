#include <xxhash.h>

#include <algorithm>
#include <numeric>

#include "placement/algorithms.h"

namespace epochcache {

RendezvousPlacement::RendezvousPlacement(const std::vector<std::string>& ids) {
  seeds_.reserve(ids.size());
  for (const auto& id : ids) seeds_.push_back(XXH3_64bits(id.data(), id.size()));
}

std::uint64_t RendezvousPlacement::Score(std::string_view key, std::size_t worker) const {
  return XXH3_64bits_withSeed(key.data(), key.size(), seeds_[worker]);
}

std::size_t RendezvousPlacement::Owner(std::string_view key) const {
  std::size_t best = 0;
  std::uint64_t best_score = 0;
  for (std::size_t i = 0; i < seeds_.size(); ++i) {
    const std::uint64_t s = Score(key, i);
    if (i == 0 || s > best_score) {
      best = i;
      best_score = s;
    }
  }
  return best;
}

std::vector<std::size_t> RendezvousPlacement::Rank(std::string_view key, std::size_t n) const {
  std::vector<std::pair<std::uint64_t, std::size_t>> scored;
  scored.reserve(seeds_.size());
  for (std::size_t i = 0; i < seeds_.size(); ++i) scored.emplace_back(Score(key, i), i);
  n = std::min(n, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(n), scored.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::size_t> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(scored[i].second);
  return out;
}

}  // namespace epochcache
