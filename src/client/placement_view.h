// The client's view of where keys live: the workers of the current membership generation and
// a rendezvous placement over their ids, rebuilt when the generation moves.
//
// Thread-safety: safe to use from many threads at once.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "epochcache/membership.h"
#include "epochcache/placement.h"

namespace epochcache::client {

// The workers and their placement, as of one membership generation. Immutable.
struct Topology {
  std::uint64_t generation = 0;
  std::vector<WorkerRecord> workers;
  std::unique_ptr<Placement> placement;

  // Up to `n` worker addresses for `key`, owner first.
  [[nodiscard]] std::vector<std::string> Candidates(std::string_view key, std::size_t n) const;
};

class PlacementView {
 public:
  explicit PlacementView(std::unique_ptr<MembershipView> membership)
      : membership_(std::move(membership)) {}
  ~PlacementView();
  PlacementView(const PlacementView&) = delete;
  PlacementView& operator=(const PlacementView&) = delete;

  // The topology of the membership's current generation.
  [[nodiscard]] std::shared_ptr<const Topology> Current() const;
  // Membership changes seen.
  [[nodiscard]] std::uint64_t rebuilds() const { return rebuilds_.load(); }

  // For a forked child, where the membership's refresh thread does not exist: tearing the view
  // down would wait for it forever, so it is never destroyed.
  void LeakMembership() { (void)membership_.release(); }

 private:
  std::unique_ptr<MembershipView> membership_;
  mutable std::mutex mu_;
  mutable std::shared_ptr<const Topology> current_;  // GUARDED_BY(mu_)
  mutable std::atomic<std::uint64_t> rebuilds_{0};
};

}  // namespace epochcache::client
