#include "client/placement_view.h"

#include <utility>

namespace epochcache::client {

std::vector<std::string> Topology::Candidates(std::string_view key, std::size_t n) const {
  std::vector<std::string> out;
  for (std::size_t i : placement->Rank(key, n)) out.push_back(workers[i].address);
  return out;
}

PlacementView::~PlacementView() = default;

std::shared_ptr<const Topology> PlacementView::Current() const {
  const std::uint64_t generation = membership_->generation();
  std::lock_guard lock(mu_);
  if (!current_ || current_->generation != generation) {
    auto topology = std::make_shared<Topology>();
    topology->generation = generation;
    topology->workers = membership_->Workers();
    std::vector<std::string> ids;
    ids.reserve(topology->workers.size());
    for (const auto& w : topology->workers) ids.push_back(w.id);
    topology->placement = MakePlacement(PlacementAlgorithm::kRendezvous, ids);
    if (current_) rebuilds_.fetch_add(1, std::memory_order_relaxed);
    current_ = std::move(topology);
  }
  return current_;
}

}  // namespace epochcache::client
