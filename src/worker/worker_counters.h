// Counters a worker keeps since start, shared by the read service and the HTTP front end.
//
// Thread-safety: every field is an atomic, updated with relaxed ordering; a snapshot read while
// requests run is approximate field by field, which is all stats need.
#pragma once

#include <atomic>
#include <cstdint>

namespace epochcache::worker {

struct WorkerCounters {
  std::atomic<std::uint64_t> requests{0};           // HTTP requests parsed, any endpoint
  std::atomic<std::uint64_t> bytes_served{0};       // file bytes written to clients
  std::atomic<std::uint64_t> under_store_reads{0};  // ReadRange calls made on misses
  std::atomic<std::uint64_t> under_store_stats{0};  // Stat calls (misses and refreshes)
  std::atomic<std::uint64_t> under_store_lists{0};  // List/ListAfter calls (one per page asked)
  std::atomic<std::uint64_t> under_store_bytes{0};  // bytes those calls returned
  std::atomic<std::uint64_t> under_store_errors{0};
  std::atomic<std::uint64_t> page_hits{0};            // page slices served from the page store
  std::atomic<std::uint64_t> page_misses{0};          // page slices fetched (or joined) on a miss
  std::atomic<std::uint64_t> single_flight_joins{0};  // misses that waited on another fetch
  std::atomic<std::uint64_t> metadata_hits{0};
  std::atomic<std::uint64_t> metadata_misses{0};
  // Statuses served past the TTL while a refresh was (or was being) queued.
  std::atomic<std::uint64_t> metadata_stale_hits{0};
  std::atomic<std::uint64_t> metadata_refreshes{0};          // background refresh jobs run
  std::atomic<std::uint64_t> metadata_refresh_failures{0};   // of those, failed (not NotFound)
  std::atomic<std::uint64_t> metadata_refreshes_dropped{0};  // not queued: queue full
  std::atomic<std::uint64_t> version_changes{0};  // reads refused because the object changed
  std::atomic<std::uint64_t> errors{0};           // requests answered with a 4xx/5xx
  // Misses refused at once because the in-flight miss bytes were at their limit.
  std::atomic<std::uint64_t> miss_budget_refusals{0};
  // POST /v1/load: bytes it fetched from the under store; POST /v1/evict: pages it dropped.
  std::atomic<std::uint64_t> loaded_bytes{0};
  std::atomic<std::uint64_t> evicted_pages{0};
  // The local read socket (local_server.h): reads answered with page files and their bytes,
  // reads declined (the client then asked over HTTP), connections refused (wrong user, over
  // the limit).
  std::atomic<std::uint64_t> local_reads{0};
  std::atomic<std::uint64_t> local_read_bytes{0};
  std::atomic<std::uint64_t> local_declines{0};
  std::atomic<std::uint64_t> local_refusals{0};
};

// Levels (not counts) shown next to the counters in /v1/stats.
struct WorkerGauges {
  std::uint64_t inflight_miss_bytes = 0;  // held now by fetched pages not yet sent
  std::uint64_t inflight_miss_limit = 0;
  std::uint64_t metadata_cache_bytes = 0;  // charged by the metadata cache's byte bound
  std::uint64_t metadata_cache_entries = 0;
  double uptime_seconds = 0;
};

// Adds `n` to `counter` (relaxed): the counters order nothing.
inline void Bump(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) {
  counter.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace epochcache::worker
