#include "common/metadata_cache.h"

#include <iterator>

namespace epochcache {
namespace {

// The list node (two pointers and the Node), the hash node (next pointer, the key view, the
// iterator, the cached hash), a bucket pointer, and a malloc header for each of the three
// strings that may outgrow their small-string buffer.
constexpr std::size_t kEntryOverhead = sizeof(void*) * 2 + 96 + sizeof(void*) * 4 + 48;

}  // namespace

std::size_t MetadataCache::EntryBytes(std::string_view path, const FileStatus& status) {
  return sizeof(Node) + kEntryOverhead + path.size() + status.path.size() + status.version.size();
}

std::optional<FileStatus> MetadataCache::Get(std::string_view path) {
  if (ttl_ <= Clock::duration::zero()) return std::nullopt;
  const auto now = clock_.Now();
  std::lock_guard lock(mu_);
  auto it = index_.find(path);
  if (it == index_.end()) return std::nullopt;
  const Lru::iterator node = it->second;
  if (now >= node->expires) {
    EraseLocked(node);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, node);
  return node->status;
}

void MetadataCache::Put(std::string_view path, const FileStatus& status) {
  if (ttl_ <= Clock::duration::zero()) return;
  const std::size_t cost = EntryBytes(path, status);
  const auto expires = clock_.Now() + ttl_;
  std::lock_guard lock(mu_);
  if (auto it = index_.find(path); it != index_.end()) EraseLocked(it->second);
  if (cost > max_bytes_) return;
  while (bytes_ + cost > max_bytes_ && !lru_.empty()) EraseLocked(std::prev(lru_.end()));
  lru_.push_front(Node{std::string(path), status, expires, cost});
  index_.emplace(lru_.front().path, lru_.begin());
  bytes_ += cost;
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
