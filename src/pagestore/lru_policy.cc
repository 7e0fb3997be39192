#include "pagestore/lru_policy.h"

namespace epochcache::pagestore {

void LruPolicy::OnHit(std::uint64_t key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  order_.splice(order_.begin(), order_, it->second.pos);
}

bool LruPolicy::Admit(std::uint64_t key, std::uint64_t bytes, std::vector<std::uint64_t>* victims) {
  if (bytes > capacity_ || entries_.contains(key)) return false;
  for (std::uint64_t victim : EvictionCandidates(bytes)) {
    Remove(victim);
    victims->push_back(victim);
  }
  Insert(key, bytes);
  return true;
}

bool LruPolicy::Resize(std::uint64_t key, std::uint64_t bytes,
                       std::vector<std::uint64_t>* victims) {
  auto it = entries_.find(key);
  if (it == entries_.end() || bytes > capacity_) return false;
  used_ = used_ - it->second.bytes + bytes;
  it->second.bytes = bytes;
  order_.splice(order_.begin(), order_, it->second.pos);
  // The page itself is at the front now, so the least recently used others go first.
  while (used_ > capacity_ && order_.back() != key) {
    const std::uint64_t victim = order_.back();
    Remove(victim);
    victims->push_back(victim);
  }
  return true;
}

void LruPolicy::Restore(std::uint64_t key, std::uint64_t bytes) {
  if (!entries_.contains(key)) Insert(key, bytes);
}

void LruPolicy::Remove(std::uint64_t key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  used_ -= it->second.bytes;
  order_.erase(it->second.pos);
  entries_.erase(it);
}

void LruPolicy::SetCapacity(std::uint64_t capacity_bytes, std::vector<std::uint64_t>* victims) {
  capacity_ = capacity_bytes;
  while (used_ > capacity_ && !order_.empty()) {
    const std::uint64_t victim = order_.back();
    Remove(victim);
    victims->push_back(victim);
  }
}

std::vector<std::uint64_t> LruPolicy::EvictionCandidates(std::uint64_t bytes) const {
  std::vector<std::uint64_t> out;
  std::uint64_t freed = 0;
  for (auto it = order_.rbegin(); it != order_.rend() && used_ - freed + bytes > capacity_; ++it) {
    freed += entries_.at(*it).bytes;
    out.push_back(*it);
  }
  return out;
}

void LruPolicy::Insert(std::uint64_t key, std::uint64_t bytes) {
  order_.push_front(key);
  entries_.emplace(key, Entry{order_.begin(), bytes});
  used_ += bytes;
}

}  // namespace epochcache::pagestore
