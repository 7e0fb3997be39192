// Least-recently-used residency for one cache dir: the baseline policy, and the recency
// order the scan-resistant policy builds on.
#pragma once

#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

#include "pagestore/replacement_policy.h"

namespace epochcache::pagestore {

class LruPolicy : public ReplacementPolicy {
 public:
  explicit LruPolicy(std::uint64_t capacity_bytes) : capacity_(capacity_bytes) {}

  void OnHit(std::uint64_t key) override;
  // Admits every page that fits in the capacity at all, evicting the least recently used.
  bool Admit(std::uint64_t key, std::uint64_t bytes, std::vector<std::uint64_t>* victims) override;
  bool Resize(std::uint64_t key, std::uint64_t bytes, std::vector<std::uint64_t>* victims) override;
  void Restore(std::uint64_t key, std::uint64_t bytes) override;
  void Remove(std::uint64_t key) override;
  void SetCapacity(std::uint64_t capacity_bytes, std::vector<std::uint64_t>* victims) override;

  [[nodiscard]] std::uint64_t used_bytes() const override { return used_; }
  [[nodiscard]] std::uint64_t capacity_bytes() const override { return capacity_; }
  [[nodiscard]] std::uint64_t resident_count() const override { return entries_.size(); }

 protected:
  // The residents that would have to be evicted, least recently used first, to fit `bytes`
  // more. Empty when it already fits.
  [[nodiscard]] std::vector<std::uint64_t> EvictionCandidates(std::uint64_t bytes) const;
  // Makes `key` resident as the most recently used. REQUIRES: not resident.
  void Insert(std::uint64_t key, std::uint64_t bytes);

 private:
  struct Entry {
    std::list<std::uint64_t>::iterator pos;
    std::uint64_t bytes = 0;
  };

  std::uint64_t capacity_;
  std::uint64_t used_ = 0;
  std::list<std::uint64_t> order_;  // front = most recently used
  std::unordered_map<std::uint64_t, Entry> entries_;
};

}  // namespace epochcache::pagestore
