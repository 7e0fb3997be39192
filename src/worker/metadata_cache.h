// A TTL cache of file statuses, so that the many range reads of one file (a Parquet reader
// issues dozens) ask the under store for its status once per TTL rather than once per read.
//
// Only successes are cached: a file that does not exist yet becomes visible on the next Stat.
// A stale entry can only make a read fail with kChanged (the under store checks the version on
// every ReadRange), never serve old bytes, so the TTL trades freshness for fewer remote calls.
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

#include "epochcache/under_store.h"

namespace epochcache::worker {

class MetadataCache {
 public:
  using Clock = std::chrono::steady_clock;

  // `ttl` of zero disables caching. `max_entries` bounds memory: when full, the cache is
  // cleared (cheap, and a full cache of a scan is mostly cold anyway).
  explicit MetadataCache(Clock::duration ttl, std::size_t max_entries = 1 << 20)
      : ttl_(ttl), max_entries_(max_entries) {}

  // The cached status of `path`, if present and younger than the TTL.
  std::optional<FileStatus> Get(std::string_view path);
  void Put(std::string_view path, const FileStatus& status);
  void Invalidate(std::string_view path);

 private:
  struct Entry {
    FileStatus status;
    Clock::time_point expires;
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  const Clock::duration ttl_;
  const std::size_t max_entries_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> entries_;  // GUARDED_BY(mu_)
};

}  // namespace epochcache::worker
