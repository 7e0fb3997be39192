// Placement: which workers serve a key, in order of preference.
//
// Keys are placed by consistent hashing over stable worker ids, so a worker that leaves moves
// only its own keys, and a worker that comes back with the same id gets exactly those keys (and
// its still-warm cache) back. Rank() gives the owner first and then distinct successors: when
// the owner is down, a client goes to the next worker for the key, the same one every client
// picks. docs/architecture.md compares the algorithms by balance and key movement.
//
// Thread-safety: a Placement is immutable once built; rebuild it when membership changes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace epochcache {

enum class PlacementAlgorithm {
  kRendezvous,  // highest random weight: per key, the worker with the highest hash(key, id)
  kRing,        // consistent-hash ring with virtual nodes
  kMaglev,      // Maglev lookup table
};

class Placement {
 public:
  virtual ~Placement() = default;

  // Up to `n` distinct worker indices (into the ids given at construction), owner first.
  [[nodiscard]] virtual std::vector<std::size_t> Rank(std::string_view key,
                                                      std::size_t n) const = 0;
  // The owner of `key`. REQUIRES: at least one worker.
  [[nodiscard]] virtual std::size_t Owner(std::string_view key) const = 0;
  [[nodiscard]] virtual std::size_t size() const = 0;
};

// `worker_ids` must be distinct; an empty list gives a placement whose Rank() is empty.
std::unique_ptr<Placement> MakePlacement(PlacementAlgorithm algorithm,
                                         const std::vector<std::string>& worker_ids);

// The key of block `block` of the file `path`: files are split into blocks placed
// independently, so one large file is served by many workers at once.
std::string BlockKey(std::string_view path, std::uint64_t block);

}  // namespace epochcache
