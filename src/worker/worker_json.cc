#include "worker/worker_json.h"

#include "common/curl_http.h"
#include "epochcache/version.h"
#include "protocol/json_text.h"

namespace epochcache::worker {
namespace {

using nlohmann::json;

std::uint64_t Load(const std::atomic<std::uint64_t>& counter) {
  return counter.load(std::memory_order_relaxed);
}

}  // namespace

std::string StatsJson(const WorkerCounters& counters, const WorkerGauges& gauges,
                      const PageStoreStats& page_store, const std::vector<std::string>& roots) {
  std::uint64_t capacity = 0;
  std::uint64_t used = 0;
  json dirs = json::array();
  for (const auto& dir : page_store.dirs) {
    capacity += dir.capacity_bytes;
    used += dir.used_bytes;
    dirs.push_back({{"path", dir.path},
                    {"capacity_bytes", dir.capacity_bytes},
                    {"used_bytes", dir.used_bytes},
                    {"pages", dir.pages},
                    {"errors", dir.errors},
                    {"healthy", dir.healthy}});
  }
  const json store = {{"hits", page_store.hits},
                      {"misses", page_store.misses},
                      {"puts", page_store.puts},
                      {"rejected_puts", page_store.rejected_puts},
                      {"chunks_filled", page_store.chunks_filled},
                      {"verified_bytes", page_store.verified_bytes},
                      {"open_pages", page_store.open_pages},
                      {"evictions", page_store.evictions},
                      {"checksum_failures", page_store.checksum_failures},
                      {"dir_errors", page_store.dir_errors},
                      {"recovered_pages", page_store.recovered_pages},
                      {"discarded_files", page_store.discarded_files},
                      {"recovery_seconds", page_store.recovery_seconds},
                      {"dirs", std::move(dirs)}};
  json shown_roots = json::array();
  for (const auto& root : roots) shown_roots.push_back(RedactUserinfo(root));
  const std::uint64_t hits = Load(counters.page_hits);
  const std::uint64_t lookups = hits + Load(counters.page_misses);
  return protocol::DumpJson(
      {{"version", EPOCHCACHE_VERSION},
       {"uptime_seconds", gauges.uptime_seconds},
       {"hit_ratio", lookups == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(lookups)},
       {"capacity_bytes", capacity},
       {"used_bytes", used},
       {"roots", std::move(shown_roots)},
       {"loaded_bytes", Load(counters.loaded_bytes)},
       {"evicted_pages", Load(counters.evicted_pages)},
       {"requests", Load(counters.requests)},
       {"bytes_served", Load(counters.bytes_served)},
       {"under_store_reads", Load(counters.under_store_reads)},
       {"under_store_bytes", Load(counters.under_store_bytes)},
       {"under_store_errors", Load(counters.under_store_errors)},
       {"under_store_stats", Load(counters.under_store_stats)},
       {"under_store_lists", Load(counters.under_store_lists)},
       {"metadata_stale_hits", Load(counters.metadata_stale_hits)},
       {"metadata_refreshes", Load(counters.metadata_refreshes)},
       {"metadata_refresh_failures", Load(counters.metadata_refresh_failures)},
       {"metadata_refreshes_dropped", Load(counters.metadata_refreshes_dropped)},
       {"page_hits", Load(counters.page_hits)},
       {"page_misses", Load(counters.page_misses)},
       {"single_flight_joins", Load(counters.single_flight_joins)},
       {"metadata_hits", Load(counters.metadata_hits)},
       {"metadata_misses", Load(counters.metadata_misses)},
       {"version_changes", Load(counters.version_changes)},
       {"errors", Load(counters.errors)},
       {"miss_budget_refusals", Load(counters.miss_budget_refusals)},
       {"local_reads", Load(counters.local_reads)},
       {"local_read_bytes", Load(counters.local_read_bytes)},
       {"local_declines", Load(counters.local_declines)},
       {"local_refusals", Load(counters.local_refusals)},
       {"inflight_miss_bytes", gauges.inflight_miss_bytes},
       {"inflight_miss_limit", gauges.inflight_miss_limit},
       {"metadata_cache_bytes", gauges.metadata_cache_bytes},
       {"metadata_cache_entries", gauges.metadata_cache_entries},
       {"page_store", store}});
}

}  // namespace epochcache::worker
