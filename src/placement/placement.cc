#include <fmt/format.h>

#include <memory>

#include "placement/algorithms.h"

namespace epochcache {

std::unique_ptr<Placement> MakePlacement(PlacementAlgorithm algorithm,
                                         const std::vector<std::string>& worker_ids) {
  switch (algorithm) {
    case PlacementAlgorithm::kRing:
      return std::make_unique<RingPlacement>(worker_ids, 200);
    case PlacementAlgorithm::kMaglev:
      return std::make_unique<MaglevPlacement>(worker_ids);
    case PlacementAlgorithm::kRendezvous:
      break;
  }
  return std::make_unique<RendezvousPlacement>(worker_ids);
}

std::string BlockKey(std::string_view path, std::uint64_t block) {
  return fmt::format("{}#{}", path, block);
}

}  // namespace epochcache
