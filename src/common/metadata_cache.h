// A TTL cache of file statuses, keyed by path: the worker's (so that the many range reads of one
// file, a Parquet reader issues dozens, ask the under store for its status once per TTL rather
// than once per read) and the client's (so that a read does not stat through a worker first).
//
// Only successes are cached: a file that does not exist yet becomes visible on the next Stat.
// A stale entry can only make a miss fail with kChanged (the under store checks the version on
// every ReadRange, the worker answers 409 to a read of a version that moved), never serve old
// bytes from the under store; pages already cached for the old version are what a stale status
// can still serve, which is why the age of a status is bounded. Time is the injected Clock.
//
// Stale-while-revalidate: an entry is fresh for `ttl`, then stale for `max_stale` more. Lookup
// serves a stale entry and tells exactly one caller (per stale period) to refresh it; past
// ttl + max_stale the entry is gone and the caller must ask the under store itself. Get only
// ever returns fresh entries. An immutable entry (a status whose bytes can never change, such
// as a Hugging Face file at a pinned commit) is always fresh, and so is an entry whose version
// equals the one a caller pins: both only leave by eviction or Invalidate.
//
// An entry remembers the listing it came from (`listed_in`, `recursive`), so that a refresher
// can re-list that directory once for all of its files instead of asking file by file.
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

// Where a cached status came from, and whether it can ever change.
struct StatusOrigin {
  std::string listed_in;   // the directory whose listing gave it; empty: a stat
  bool recursive = false;  // whether that listing was recursive
  bool immutable = false;  // its bytes can never change: never stale
};

class MetadataCache {
 public:
  static constexpr std::size_t kDefaultMaxBytes = std::size_t{64} << 20;

  using Origin = StatusOrigin;

  // What Lookup found.
  struct Found {
    FileStatus status;
    bool stale = false;    // past the TTL, within the stale limit
    bool refresh = false;  // the caller was chosen to refresh it (then Put, or EndRefresh)
    Origin origin;
  };

  // `ttl` of zero disables caching. `max_bytes` bounds the memory held (see EntryBytes).
  // `max_stale`: how long past the TTL a status may still be served while it is refreshed
  // (zero: not at all). `clock` must outlive the cache.
  MetadataCache(Clock::duration ttl, Clock& clock, std::size_t max_bytes = kDefaultMaxBytes,
                Clock::duration max_stale = Clock::duration::zero())
      : ttl_(ttl), max_stale_(max_stale), max_bytes_(max_bytes), clock_(clock) {}

  // The cached status of `path`, if present and fresh; marks it recently used.
  std::optional<FileStatus> Get(std::string_view path);
  // The cached status of `path`, fresh or stale (see the file comment); marks it recently
  // used. A non-empty `pinned_version` equal to the cached version makes the entry fresh.
  // At most one caller is told to refresh a stale entry until it is Put again or EndRefresh.
  std::optional<Found> Lookup(std::string_view path, std::string_view pinned_version = {});
  // Caches `status` under `path`, evicting least recently used entries to stay within the byte
  // bound. An entry larger than the whole bound is not cached. Restarts its TTL.
  void Put(std::string_view path, const FileStatus& status, Origin origin = {});
  // A refresh of `path` (that Lookup asked for) failed or was not started: a later Lookup may
  // ask again.
  void EndRefresh(std::string_view path);
  void Invalidate(std::string_view path);

  // What one entry is charged: its strings plus a fixed estimate of the list node, the hash
  // node and bucket, and allocator headers. An estimate, but one that grows with every byte a
  // client controls, which is what makes the bound hold.
  static std::size_t EntryBytes(std::string_view path, const FileStatus& status,
                                std::string_view listed_in = {});

  [[nodiscard]] std::size_t bytes() const;
  [[nodiscard]] std::size_t size() const;

 private:
  struct Node {
    std::string path;
    FileStatus status;
    Origin origin;
    Clock::time_point fresh_until;
    Clock::time_point keep_until;  // ends the stale period
    std::size_t bytes = 0;
    bool refreshing = false;
  };
  using Lru = std::list<Node>;  // most recently used first
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  // REQUIRES: mu_ held.
  void EraseLocked(Lru::iterator it);

  const Clock::duration ttl_;
  const Clock::duration max_stale_;
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
