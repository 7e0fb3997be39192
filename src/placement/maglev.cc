#include <xxhash.h>

#include <algorithm>
#include <limits>

#include "placement/algorithms.h"

namespace epochcache {

MaglevPlacement::MaglevPlacement(const std::vector<std::string>& ids, std::size_t table_size)
    : workers_(ids.size()) {
  constexpr std::uint32_t kEmpty = std::numeric_limits<std::uint32_t>::max();
  table_.assign(table_size, kEmpty);
  if (ids.empty()) return;
  const std::size_t m = table_size;
  std::vector<std::size_t> offset(ids.size());
  std::vector<std::size_t> skip(ids.size());
  std::vector<std::size_t> next(ids.size(), 0);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    offset[i] = XXH3_64bits_withSeed(ids[i].data(), ids[i].size(), 1) % m;
    skip[i] = XXH3_64bits_withSeed(ids[i].data(), ids[i].size(), 2) % (m - 1) + 1;
  }
  std::size_t filled = 0;
  while (filled < m) {
    for (std::size_t i = 0; i < ids.size() && filled < m; ++i) {
      std::size_t c = (offset[i] + next[i] * skip[i]) % m;
      while (table_[c] != kEmpty) {
        ++next[i];
        c = (offset[i] + next[i] * skip[i]) % m;
      }
      table_[c] = static_cast<std::uint32_t>(i);
      ++next[i];
      ++filled;
    }
  }
}

std::size_t MaglevPlacement::Owner(std::string_view key) const {
  return table_[XXH3_64bits(key.data(), key.size()) % table_.size()];
}

std::vector<std::size_t> MaglevPlacement::Rank(std::string_view key, std::size_t n) const {
  std::vector<std::size_t> out;
  if (workers_ == 0) return out;
  n = std::min(n, workers_);
  const std::size_t start = XXH3_64bits(key.data(), key.size()) % table_.size();
  for (std::size_t steps = 0; out.size() < n && steps < table_.size(); ++steps) {
    const std::size_t w = table_[(start + steps) % table_.size()];
    if (std::find(out.begin(), out.end(), w) == out.end()) out.push_back(w);
  }
  return out;
}

}  // namespace epochcache
