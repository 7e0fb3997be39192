#include "common/metadata_cache.h"

#include <iterator>
#include <utility>

namespace epochcache {
namespace {

// The list node (two pointers and the Node), the hash node (next pointer, the key view, the
// iterator, the cached hash), a bucket pointer, and a malloc header for each of the four
// strings that may outgrow their small-string buffer.
constexpr std::size_t kEntryOverhead = sizeof(void*) * 2 + 96 + sizeof(void*) * 4 + 64;

}  // namespace

std::size_t MetadataCache::EntryBytes(std::string_view path, const FileStatus& status,
                                      std::string_view listed_in) {
  return sizeof(Node) + kEntryOverhead + path.size() + status.path.size() + status.version.size() +
         listed_in.size();
}

std::optional<FileStatus> MetadataCache::Get(std::string_view path) {
  if (ttl_ <= Clock::duration::zero()) return std::nullopt;
  const auto now = clock_.Now();
  std::lock_guard lock(mu_);
  auto it = index_.find(path);
  if (it == index_.end()) return std::nullopt;
  const Lru::iterator node = it->second;
  if (!node->origin.immutable && now >= node->fresh_until) {
    if (now >= node->keep_until) EraseLocked(node);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, node);
  return node->status;
}

std::optional<MetadataCache::Found> MetadataCache::Lookup(std::string_view path,
                                                          std::string_view pinned_version) {
  if (ttl_ <= Clock::duration::zero()) return std::nullopt;
  const auto now = clock_.Now();
  std::lock_guard lock(mu_);
  auto it = index_.find(path);
  if (it == index_.end()) return std::nullopt;
  const Lru::iterator node = it->second;
  Found found{node->status, false, false, node->origin};
  const bool pinned = !pinned_version.empty() && pinned_version == node->status.version;
  if (!node->origin.immutable && !pinned && now >= node->fresh_until) {
    if (now >= node->keep_until) {
      EraseLocked(node);
      return std::nullopt;
    }
    found.stale = true;
    found.refresh = !node->refreshing;
    node->refreshing = true;
  }
  lru_.splice(lru_.begin(), lru_, node);
  return found;
}

void MetadataCache::Put(std::string_view path, const FileStatus& status, Origin origin) {
  if (ttl_ <= Clock::duration::zero()) return;
  const std::size_t cost = EntryBytes(path, status, origin.listed_in);
  const auto now = clock_.Now();
  std::lock_guard lock(mu_);
  if (auto it = index_.find(path); it != index_.end()) EraseLocked(it->second);
  if (cost > max_bytes_) return;
  while (bytes_ + cost > max_bytes_ && !lru_.empty()) EraseLocked(std::prev(lru_.end()));
  lru_.push_front(Node{std::string(path), status, std::move(origin), now + ttl_,
                       now + ttl_ + max_stale_, cost, false});
  index_.emplace(lru_.front().path, lru_.begin());
  bytes_ += cost;
}

void MetadataCache::EndRefresh(std::string_view path) {
  std::lock_guard lock(mu_);
  if (auto it = index_.find(path); it != index_.end()) it->second->refreshing = false;
}

void MetadataCache::Invalidate(std::string_view path) {
  std::lock_guard lock(mu_);
  if (auto it = index_.find(path); it != index_.end()) EraseLocked(it->second);
}

std::size_t MetadataCache::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

std::size_t MetadataCache::size() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

void MetadataCache::EraseLocked(Lru::iterator it) {
  bytes_ -= it->bytes;
  index_.erase(it->path);
  lru_.erase(it);
}

}  // namespace epochcache
