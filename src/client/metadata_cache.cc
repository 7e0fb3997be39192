#include "client/metadata_cache.h"

namespace epochcache::client {

MetadataCache::MetadataCache(std::chrono::milliseconds ttl, Clock& clock, std::size_t max_entries)
    : ttl_(ttl), max_entries_(max_entries), clock_(clock) {}

std::optional<FileStatus> MetadataCache::Get(std::string_view path) {
  if (ttl_.count() <= 0) return std::nullopt;
  std::lock_guard lock(mu_);
  auto it = entries_.find(std::string(path));
  if (it == entries_.end()) return std::nullopt;
  if (clock_.Now() >= it->second.expires) {
    entries_.erase(it);
    return std::nullopt;
  }
  return it->second.status;
}

void MetadataCache::Put(std::string_view path, const FileStatus& status) {
  if (ttl_.count() <= 0) return;
  const auto now = clock_.Now();
  std::lock_guard lock(mu_);
  if (entries_.size() >= max_entries_) {
    std::erase_if(entries_, [now](const auto& kv) { return now >= kv.second.expires; });
    // Still full of live entries: start over rather than track recency; a miss costs one stat.
    if (entries_.size() >= max_entries_) entries_.clear();
  }
  entries_.insert_or_assign(std::string(path), Entry{status, now + ttl_});
}

void MetadataCache::Invalidate(std::string_view path) {
  std::lock_guard lock(mu_);
  entries_.erase(std::string(path));
}

}  // namespace epochcache::client
