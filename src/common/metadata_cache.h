// A TTL cache of file statuses, keyed by path: the worker's (so that the many range reads of one
// file, a Parquet reader issues dozens, ask the under store for its status once per TTL rather
// than once per read) and the client's (so that a read does not stat through a worker first).
//
// Only successes are cached: a file that does not exist yet becomes visible on the next Stat.
// A stale entry can only make a read fail with kChanged (the under store checks the version on
// every ReadRange, the worker answers 409 to a read of a version that moved), never serve old
// bytes, so the TTL trades freshness for fewer remote calls. Time is the injected Clock.
//
// Keys come from outside (a worker's request paths, a client's callers), so memory is bounded
// in bytes, not entries: a million distinct long paths cost at most `max_bytes`, and what goes
// is the least recently used status. The worker's keys are paths that passed CheckUnderPath,
// so one object has one spelling and cannot be cached many times over.
//
// Thread-safety: safe to use from many threads at once. No method calls out while holding the
// lock, so a lookup never waits on the under store.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/clock.h"
#include "epochcache/under_store.h"

namespace epochcache {

class MetadataCache {
 public:
  static constexpr std::size_t kDefaultMaxBytes = std::size_t{64} << 20;

  // `ttl` of zero disables caching. `max_bytes` bounds the memory held (see EntryBytes).
  // `clock` must outlive the cache.
  MetadataCache(Clock::duration ttl, Clock& clock, std::size_t max_bytes = kDefaultMaxBytes)
      : ttl_(ttl), max_bytes_(max_bytes), clock_(clock) {}

  // The cached status of `path`, if present and younger than the TTL; marks it recently used.
  std::optional<FileStatus> Get(std::string_view path);
  // Caches `status` under `path`, evicting least recently used entries to stay within the byte
  // bound. An entry larger than the whole bound is not cached.
  void Put(std::string_view path, const FileStatus& status);
  void Invalidate(std::string_view path);

  // What one entry is charged: its strings plus a fixed estimate of the list node, the hash
  // node and bucket, and allocator headers. An estimate, but one that grows with every byte a
  // client controls, which is what makes the bound hold.
  static std::size_t EntryBytes(std::string_view path, const FileStatus& status);

  [[nodiscard]] std::size_t bytes() const;
  [[nodiscard]] std::size_t size() const;

 private:
  struct Node {
    std::string path;
    FileStatus status;
    Clock::time_point expires;
    std::size_t bytes = 0;
  };
  using Lru = std::list<Node>;  // most recently used first
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  // REQUIRES: mu_ held.
  void EraseLocked(Lru::iterator it);

  const Clock::duration ttl_;
  const std::size_t max_bytes_;
  Clock& clock_;
  mutable std::mutex mu_;
  Lru lru_;  // GUARDED_BY(mu_)
  // Keys view the Node's own path string, which list nodes never move.
  std::unordered_map<std::string_view, Lru::iterator, Hash, std::equal_to<>>
      index_;              // GUARDED_BY(mu_)
  std::size_t bytes_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace epochcache
