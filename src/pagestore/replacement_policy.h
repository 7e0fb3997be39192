// What a cache dir keeps when it is full: the admission and eviction decision, without I/O.
//
// A policy tracks the resident pages of one cache dir by a 64-bit key and their sizes in
// bytes, and decides which page to admit and which to evict. It does no I/O, so it can be
// tested by simulation (tests/pagestore/policy_simulation_test.cc). The page store calls it
// under its index lock: implementations need not be thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "epochcache/page_store.h"

namespace epochcache::pagestore {

class ReplacementPolicy {
 public:
  virtual ~ReplacementPolicy() = default;

  // A read found resident page `key`.
  virtual void OnHit(std::uint64_t key) = 0;

  // A page missed and is offered for caching; this counts as an access to `key`. Returns true
  // if `key` (of `bytes`) is admitted: it is then resident, and `victims` holds the resident
  // keys evicted to make room (already forgotten by the policy; the caller deletes them).
  // Returns false, changing no residency, if the policy declines.
  // REQUIRES: `key` is not resident.
  virtual bool Admit(std::uint64_t key, std::uint64_t bytes,
                     std::vector<std::uint64_t>* victims) = 0;

  // Changes the size of resident page `key` (a partial page gained or lost chunks) and marks it
  // most recently used; growing evicts other pages as Admit does (appended to `victims`), with
  // no admission decision, since the page is already resident. False, changing nothing, if
  // `key` is not resident or `bytes` exceeds the capacity.
  virtual bool Resize(std::uint64_t key, std::uint64_t bytes,
                      std::vector<std::uint64_t>* victims) = 0;

  // Adds a page found on disk at start without an admission decision; later restored pages
  // count as more recently used. May leave the policy over capacity: see EvictOverflow.
  virtual void Restore(std::uint64_t key, std::uint64_t bytes) = 0;

  // Forgets a resident page removed for another reason (failed checksum, failed write,
  // missing file). No-op if not resident.
  virtual void Remove(std::uint64_t key) = 0;

  // Changes the capacity (e.g. after a real ENOSPC shows the disk holds less than
  // configured), then evicts until within it, appending the evicted keys to `victims`.
  virtual void SetCapacity(std::uint64_t capacity_bytes, std::vector<std::uint64_t>* victims) = 0;

  [[nodiscard]] virtual std::uint64_t used_bytes() const = 0;
  [[nodiscard]] virtual std::uint64_t capacity_bytes() const = 0;
  [[nodiscard]] virtual std::uint64_t resident_count() const = 0;
};

// `expected_pages` sizes the frequency sketch of the scan-resistant policy (about how many
// pages fit in the capacity); LRU ignores it.
std::unique_ptr<ReplacementPolicy> MakeReplacementPolicy(EvictionPolicy kind,
                                                         std::uint64_t capacity_bytes,
                                                         std::uint64_t expected_pages);

}  // namespace epochcache::pagestore
