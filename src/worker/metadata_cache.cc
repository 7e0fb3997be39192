#include "worker/metadata_cache.h"

namespace epochcache::worker {

std::optional<FileStatus> MetadataCache::Get(std::string_view path) {
  if (ttl_ <= Clock::duration::zero()) return std::nullopt;
  std::lock_guard lock(mu_);
  auto it = entries_.find(path);
  if (it == entries_.end()) return std::nullopt;
  if (Clock::now() >= it->second.expires) {
    entries_.erase(it);
    return std::nullopt;
  }
  return it->second.status;
}

void MetadataCache::Put(std::string_view path, const FileStatus& status) {
  if (ttl_ <= Clock::duration::zero()) return;
  std::lock_guard lock(mu_);
  if (entries_.size() >= max_entries_) entries_.clear();
  entries_.insert_or_assign(std::string(path), Entry{status, Clock::now() + ttl_});
}

void MetadataCache::Invalidate(std::string_view path) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(path);
  if (it != entries_.end()) entries_.erase(it);
}

}  // namespace epochcache::worker
