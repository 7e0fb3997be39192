// A TTL cache of file status, keyed by the path the caller asked for.
//
// Reads stat the file first (for its size and version); caching that answer for a short time
// saves a round trip per read. A changed object is still never served stale: reads carry the
// cached version and the worker answers 409 when it moved, which invalidates the entry.
//
// Thread-safety: safe to use from many threads at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/clock.h"
#include "epochcache/under_store.h"

namespace epochcache::client {

class MetadataCache {
 public:
  // A ttl of zero disables caching. `clock` must outlive the cache.
  MetadataCache(std::chrono::milliseconds ttl, Clock& clock, std::size_t max_entries = 1 << 17);

  std::optional<FileStatus> Get(std::string_view path);
  void Put(std::string_view path, const FileStatus& status);
  void Invalidate(std::string_view path);

 private:
  struct Entry {
    FileStatus status;
    Clock::time_point expires;
  };

  const std::chrono::milliseconds ttl_;
  const std::size_t max_entries_;
  Clock& clock_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace epochcache::client
