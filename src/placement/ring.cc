#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>

#include "placement/algorithms.h"

namespace epochcache {

RingPlacement::RingPlacement(const std::vector<std::string>& ids, int vnodes)
    : workers_(ids.size()) {
  points_.reserve(ids.size() * static_cast<std::size_t>(vnodes));
  for (std::size_t w = 0; w < ids.size(); ++w) {
    for (int v = 0; v < vnodes; ++v) {
      const std::string point = fmt::format("{}#{}", ids[w], v);
      points_.emplace_back(XXH3_64bits(point.data(), point.size()), w);
    }
  }
  std::sort(points_.begin(), points_.end());
}

std::size_t RingPlacement::Owner(std::string_view key) const {
  const std::uint64_t h = XXH3_64bits(key.data(), key.size());
  auto it = std::lower_bound(points_.begin(), points_.end(), std::make_pair(h, std::size_t{0}));
  if (it == points_.end()) it = points_.begin();
  return it->second;
}

std::vector<std::size_t> RingPlacement::Rank(std::string_view key, std::size_t n) const {
  std::vector<std::size_t> out;
  if (points_.empty()) return out;
  n = std::min(n, workers_);
  const std::uint64_t h = XXH3_64bits(key.data(), key.size());
  auto start = std::lower_bound(points_.begin(), points_.end(), std::make_pair(h, std::size_t{0}));
  std::size_t at = static_cast<std::size_t>(start - points_.begin());
  for (std::size_t steps = 0; out.size() < n && steps < points_.size(); ++steps) {
    const std::size_t w = points_[(at + steps) % points_.size()].second;
    if (std::find(out.begin(), out.end(), w) == out.end()) out.push_back(w);
  }
  return out;
}

}  // namespace epochcache
