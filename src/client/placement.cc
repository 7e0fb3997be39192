#include "client/placement.h"

#include <limits>
#include <utility>

namespace epochcache::client {
namespace {

std::uint64_t Fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

// splitmix64's finaliser: spreads every input bit over the whole word.
std::uint64_t Mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

Placement::Placement(std::vector<std::string> hosts) : hosts_(std::move(hosts)) {
  host_hashes_.reserve(hosts_.size());
  for (const auto& host : hosts_) host_hashes_.push_back(Mix(Fnv1a(host)));
}

const std::string& Placement::Pick(std::string_view path, std::uint64_t piece) const {
  const std::uint64_t key = Mix(Fnv1a(path) + Mix(piece + 0x9e3779b97f4a7c15ULL));
  std::size_t best = 0;
  std::uint64_t best_score = 0;
  for (std::size_t i = 0; i < hosts_.size(); ++i) {
    const std::uint64_t score = Mix(key ^ host_hashes_[i]);
    if (i == 0 || score > best_score) {
      best = i;
      best_score = score;
    }
  }
  return hosts_[best];
}

const std::string& Placement::PickForMetadata(std::string_view path) const {
  return Pick(path, std::numeric_limits<std::uint64_t>::max());
}

}  // namespace epochcache::client
