// The worker's read path, independent of any transport: metadata with a TTL cache
// (stale-while-revalidate, statuses learned from listings), and reads
// planned page by page from the page store, reading through to the under store on a miss.
//
// A read is answered as a plan: an ordered list of segments that together are exactly the
// requested bytes of one version of the file. A hit segment is an open page file (for
// sendfile(2)); a miss segment is a slice of a page fetched into memory (and offered to the page
// store, which may decline it). Bytes of two versions are never mixed: every under-store read
// names the version from the status the plan was made for, and a replaced object makes the
// whole read fail with kChanged.
//
// A miss fetches only the 64 KiB chunks of the page that cover the requested bytes and are not
// cached yet (neighbouring missing chunks in one ranged read, a single cached chunk between two
// missing runs fetched again rather than paying a second request), and adds them to the page
// store's partial page; a read covering a whole page fetches its missing chunks in one read, so
// sequential readers still get large fetches. The missing pages of a read spanning several are
// fetched in parallel. Concurrent misses of the same chunks share one fetch.
//
// Memory held for misses is bounded worker-wide: chunks fetched from the under store reserve
// their bytes from a budget before the fetch and give them back when the last plan holding the
// buffer lets go of it (after the bytes are on the wire). Past the budget a miss fails at once with
// kUnavailable "worker busy: ...", so clients that request cold ranges and never read them
// cannot grow the worker without bound.
//
// Hits have their own entry points (CachedStatus, TryReadCached) that never call the under
// store and never wait on a concurrent fetch, so a server can answer them on a path that no
// slow remote read can hold up.
//
// Thread-safety: a ReadService is safe to use from many threads at once. The under store and
// page store must outlive it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/metadata_cache.h"
#include "epochcache/page_store.h"
#include "epochcache/status.h"
#include "epochcache/under_store.h"
#include "worker/metadata_refresher.h"
#include "worker/single_flight.h"
#include "worker/worker_counters.h"

namespace epochcache::worker {

struct ReadServiceOptions {
  // How long a file status is reused before the under store is asked again. Zero disables.
  std::chrono::milliseconds metadata_ttl{10000};
  // How long past metadata_ttl a status is still served while a background refresh asks the
  // under store (stale-while-revalidate); past ttl + max_stale a request asks it itself.
  // Zero disables serving stale statuses.
  std::chrono::milliseconds metadata_max_stale{60000};
  // Threads that run those refreshes, and how many refreshes may wait for them (more are not
  // queued: the stale status is served and a later request asks again).
  std::size_t metadata_refresh_threads = 2;
  std::size_t metadata_max_pending_refreshes = 4096;
  // The clock of the metadata cache; null: the real one. Must outlive the service.
  Clock* clock = nullptr;
  // How long a miss waits for a concurrent fetch of the same page before giving up (Timeout).
  std::chrono::milliseconds fetch_wait_bound{120000};
  // Memory the metadata cache may hold (paths, versions and per-entry overhead), least
  // recently used statuses evicted first.
  std::size_t metadata_max_bytes = MetadataCache::kDefaultMaxBytes;
  // Bytes of pages fetched from the under store that may be held in memory at once, across
  // all requests (from the fetch until the bytes are sent). Raised to one page if smaller.
  std::uint64_t max_inflight_miss_bytes = std::uint64_t{256} << 20;
  // The under-store roots served, as configured (shown in /v1/stats without user info).
  std::vector<std::string> roots;
};

// What a load did (POST /v1/load).
struct LoadResult {
  FileStatus status;                // the version loaded
  std::uint64_t bytes = 0;          // of the range, clipped to the file
  std::uint64_t bytes_fetched = 0;  // read from the under store (0: all cached already)
};

// A worker-wide count of bytes reserved against a limit; reservations never wait.
class ByteBudget {
 public:
  explicit ByteBudget(std::uint64_t limit) : limit_(limit) {}

  // Reserves `bytes` unless that would pass the limit; false (nothing reserved) if it would.
  bool TryReserve(std::uint64_t bytes);
  void Release(std::uint64_t bytes);

  [[nodiscard]] std::uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t limit() const { return limit_; }

 private:
  const std::uint64_t limit_;
  std::atomic<std::uint64_t> used_{0};
};

// A page fetched from the under store, shared by every reader that missed it.
using PageBuffer = std::vector<std::byte>;

// One piece of a read: either `page` (an open, verified page file slice) or `length` bytes of
// `buffer` starting at `buffer_offset`.
struct ReadSegment {
  PageHandle page;                           // valid when page.fd() >= 0
  std::shared_ptr<const PageBuffer> buffer;  // set for a miss
  std::uint64_t buffer_offset = 0;
  std::uint64_t length = 0;

  [[nodiscard]] bool is_page() const { return page.fd() >= 0; }
};

// One page of a directory listing (see ReadService::List).
using epochcache::ListPage;

struct ReadPlan {
  FileStatus status;         // the version every segment belongs to
  std::uint64_t offset = 0;  // first byte served
  std::uint64_t length = 0;  // bytes served: the sum of the segments' lengths
  std::vector<ReadSegment> segments;
};

class ReadService {
 public:
  ReadService(UnderStore& under, PageStore& pages, ReadServiceOptions options = {});

  // Every method taking a path refuses one that fails CheckUnderPath (PermissionDenied) before
  // looking at the cache or the under store, so the cache is keyed by checked paths only.

  // Status of a file or directory, from the metadata cache when fresh, or stale within
  // metadata_max_stale (a refresh is then queued); else from the under store.
  Result<FileStatus> Stat(std::string_view path);

  // Status of `path` for a read. When `version` is not empty and the status differs, the
  // under store is asked again (the cached status may be the stale one) and a still different
  // version is kChanged. A directory is InvalidArgument. A cached status of exactly the
  // requested version is used however old it is: the caller pinned those bytes.
  Result<FileStatus> StatForRead(std::string_view path, std::string_view version);

  // The cached status of `path` (fresh, or stale with a refresh queued), or nullopt: never
  // calls the under store and never waits for it.
  std::optional<FileStatus> CachedStatus(std::string_view path);

  // Drops the cached status of `path` (after a read of it failed with kChanged).
  void ForgetStatus(std::string_view path);

  // Directory listing, straight from the under store; file entries refresh the metadata cache
  // (a reader typically lists, then reads every file listed), remembering the listing, which
  // is what refreshes them once they are stale: one listing for the whole directory.
  Result<std::vector<FileStatus>> List(std::string_view path, bool recursive);

  // One page of that listing: at most `limit` entries whose path sorts after `start_after`
  // (byte order; empty = from the start), as UnderStore::ListAfter gives it: one paged call
  // to the under store, which reads about one page from its storage, never the whole listing.
  // The returned file entries refresh the metadata cache.
  Result<ListPage> List(std::string_view path, bool recursive, std::string_view start_after,
                        std::size_t limit);

  // Plans the bytes [offset, offset + length) of `path`, clipped to the end of the file (a
  // range starting at or past the end gives an empty plan). `length` may be UINT64_MAX for
  // "to the end". When `version` is not empty and the file now has another version: kChanged.
  // A directory is InvalidArgument.
  Result<ReadPlan> Read(std::string_view path, std::string_view version, std::uint64_t offset,
                        std::uint64_t length);

  // Like Read, for the exact version described by `status` (as returned by Stat).
  Result<ReadPlan> ReadVersion(const FileStatus& status, std::uint64_t offset,
                               std::uint64_t length);

  // Like ReadVersion, but only from pages already in the page store: nullopt as soon as one
  // page of the range is missing (the caller then goes through ReadVersion). Never calls the
  // under store and never waits on a concurrent fetch.
  std::optional<Result<ReadPlan>> TryReadCached(const FileStatus& status, std::uint64_t offset,
                                                std::uint64_t length);

  // Like TryReadCached, but the plan covers the whole pages around the range when every one of
  // them is wholly cached and they total at most `max_bytes` (a local reader keeps them to
  // serve reads nearby, see local_server.h); otherwise just the range. The plan's offset and
  // length say which bytes it covers.
  std::optional<Result<ReadPlan>> TryReadCachedPages(const FileStatus& status, std::uint64_t offset,
                                                     std::uint64_t length, std::uint64_t max_bytes);

  // Makes the pages covering [offset, offset + length) of the current version of `path`
  // resident, through the miss path (its budget, single flight and page store admission):
  // a page the policy declines stays uncached. Pages already cached cost no under-store read.
  Result<LoadResult> Load(std::string_view path, std::uint64_t offset, std::uint64_t length);

  // Drops the pages of `path` (its current version and the version in the metadata cache)
  // and forgets its status. Returns the pages dropped. A path that no longer exists still
  // has its cached version dropped.
  Result<std::uint64_t> Evict(std::string_view path);

  // Waits until no background status refresh waits or runs (tests).
  void WaitForRefreshes() { refresher_->Drain(); }

  [[nodiscard]] const std::vector<std::string>& roots() const { return options_.roots; }

  [[nodiscard]] std::uint64_t page_size() const { return page_size_; }
  [[nodiscard]] const ByteBudget& miss_budget() const { return *miss_budget_; }
  [[nodiscard]] const MetadataCache& metadata_cache() const { return metadata_; }
  [[nodiscard]] WorkerCounters& counters() { return counters_; }
  [[nodiscard]] const WorkerCounters& counters() const { return counters_; }
  [[nodiscard]] PageStore& page_store() { return pages_; }
  [[nodiscard]] UnderStore& under_store() { return under_; }

 private:
  // The slice [begin, begin + length) of page `index`, from the page store, fetched, or (a
  // partly cached page) both, in order. `just_missed`: the caller's own lookup of this slice
  // has just missed, so the first attempt goes straight to the chunks present (a second lookup
  // would count the same miss twice in the page store's stats).
  Result<std::vector<ReadSegment>> ReadPageSlice(const FileStatus& status,
                                                 const std::string& file_key, std::uint64_t index,
                                                 std::uint64_t begin, std::uint64_t length,
                                                 bool just_missed = false);
  // Reads chunks [first, end) of page `index` from the under store (one ranged read) and adds
  // them to the page store. When `check_cached`, returns null instead if they are all cached
  // by now (a concurrent fetch finished between our miss and taking the flight).
  Result<std::shared_ptr<const PageBuffer>> FetchPage(const FileStatus& status,
                                                      const std::string& file_key,
                                                      std::uint64_t index, std::uint32_t first,
                                                      std::uint32_t end, bool check_cached);
  // Forgets the cached status of a file found to have changed.
  void OnChanged(std::string_view path);
  // The status of `path` from the cache (queuing a refresh of a stale one) or the under store.
  Result<FileStatus> CurrentStatus(std::string_view path, std::string_view pinned_version);
  // Asks the under store for the status of `path` and caches it.
  Result<FileStatus> FetchStatus(std::string_view path);
  // Queues the refresh Lookup asked for; a refused one is ended at once.
  void StartRefresh(std::string_view path, const MetadataCache::Origin& origin);
  // Runs one refresh job (on the refresher's threads).
  void RunRefresh(const MetadataRefresher::Job& job);
  // Caches the file entries of a listing of `dir`.
  void PutListed(std::string_view dir, bool recursive, const std::vector<FileStatus>& entries);

  UnderStore& under_;
  PageStore& pages_;
  const ReadServiceOptions options_;
  const std::uint64_t page_size_;
  MetadataCache metadata_;
  // Shared with every miss buffer, which gives its bytes back when it dies (possibly after
  // the plan outlived a request).
  std::shared_ptr<ByteBudget> miss_budget_;
  // Keyed by page and chunk range. A null buffer means "the chunks are now in the page store:
  // Get them again".
  SingleFlight<std::shared_ptr<const PageBuffer>> flights_;
  WorkerCounters counters_;
  // Last: its threads use everything above, so it stops first.
  std::unique_ptr<MetadataRefresher> refresher_;
};

}  // namespace epochcache::worker
