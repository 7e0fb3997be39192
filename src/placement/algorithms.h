// The placement algorithms behind MakePlacement (include/epochcache/placement.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "epochcache/placement.h"

namespace epochcache {

// Highest random weight: O(workers) per lookup, near-perfect balance, minimal movement.
class RendezvousPlacement final : public Placement {
 public:
  explicit RendezvousPlacement(const std::vector<std::string>& ids);
  [[nodiscard]] std::vector<std::size_t> Rank(std::string_view key, std::size_t n) const override;
  [[nodiscard]] std::size_t Owner(std::string_view key) const override;
  [[nodiscard]] std::size_t size() const override { return seeds_.size(); }

 private:
  [[nodiscard]] std::uint64_t Score(std::string_view key, std::size_t worker) const;
  std::vector<std::uint64_t> seeds_;
};

// A hash ring with `vnodes` points per worker: O(log points) per lookup.
class RingPlacement final : public Placement {
 public:
  RingPlacement(const std::vector<std::string>& ids, int vnodes);
  [[nodiscard]] std::vector<std::size_t> Rank(std::string_view key, std::size_t n) const override;
  [[nodiscard]] std::size_t Owner(std::string_view key) const override;
  [[nodiscard]] std::size_t size() const override { return workers_; }

 private:
  std::vector<std::pair<std::uint64_t, std::size_t>> points_;  // sorted by hash
  std::size_t workers_;
};

// Maglev (Eisenbud et al., NSDI'16): a lookup table of prime size filled from per-worker
// permutations. O(1) per lookup; successors are the next distinct table entries.
class MaglevPlacement final : public Placement {
 public:
  explicit MaglevPlacement(const std::vector<std::string>& ids, std::size_t table_size = 65537);
  [[nodiscard]] std::vector<std::size_t> Rank(std::string_view key, std::size_t n) const override;
  [[nodiscard]] std::size_t Owner(std::string_view key) const override;
  [[nodiscard]] std::size_t size() const override { return workers_; }

 private:
  std::vector<std::uint32_t> table_;
  std::size_t workers_;
};

}  // namespace epochcache
