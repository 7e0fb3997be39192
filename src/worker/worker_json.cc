#include "worker/worker_json.h"

#include <nlohmann/json.hpp>

namespace epochcache::worker {
namespace {

using nlohmann::json;

json StatObject(const FileStatus& status) {
  return {{"path", status.path},
          {"type", status.is_directory ? "directory" : "file"},
          {"size", status.size},
          {"mtime_ns", status.mtime_ns},
          {"version", status.version}};
}

// Paths are arbitrary bytes: replace invalid UTF-8 rather than throw while encoding.
std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::uint64_t Load(const std::atomic<std::uint64_t>& counter) {
  return counter.load(std::memory_order_relaxed);
}

}  // namespace

std::string StatJson(const FileStatus& status) { return Dump(StatObject(status)); }

std::string ListJson(std::string_view path, const std::vector<FileStatus>& entries,
                     const std::optional<std::string>& next_start_after) {
  json list = json::array();
  for (const auto& entry : entries) list.push_back(StatObject(entry));
  json body = {{"path", std::string(path)}, {"entries", std::move(list)}};
  if (next_start_after) body["next_start_after"] = *next_start_after;
  return Dump(body);
}

std::string StatsJson(const WorkerCounters& counters, const WorkerGauges& gauges,
                      const PageStoreStats& page_store) {
  json dirs = json::array();
  for (const auto& dir : page_store.dirs) {
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
                      {"evictions", page_store.evictions},
                      {"checksum_failures", page_store.checksum_failures},
                      {"dir_errors", page_store.dir_errors},
                      {"recovered_pages", page_store.recovered_pages},
                      {"discarded_files", page_store.discarded_files},
                      {"recovery_seconds", page_store.recovery_seconds},
                      {"dirs", std::move(dirs)}};
  return Dump({{"requests", Load(counters.requests)},
               {"bytes_served", Load(counters.bytes_served)},
               {"under_store_reads", Load(counters.under_store_reads)},
               {"under_store_bytes", Load(counters.under_store_bytes)},
               {"under_store_errors", Load(counters.under_store_errors)},
               {"page_hits", Load(counters.page_hits)},
               {"page_misses", Load(counters.page_misses)},
               {"single_flight_joins", Load(counters.single_flight_joins)},
               {"metadata_hits", Load(counters.metadata_hits)},
               {"metadata_misses", Load(counters.metadata_misses)},
               {"version_changes", Load(counters.version_changes)},
               {"errors", Load(counters.errors)},
               {"miss_budget_refusals", Load(counters.miss_budget_refusals)},
               {"inflight_miss_bytes", gauges.inflight_miss_bytes},
               {"inflight_miss_limit", gauges.inflight_miss_limit},
               {"metadata_cache_bytes", gauges.metadata_cache_bytes},
               {"metadata_cache_entries", gauges.metadata_cache_entries},
               {"page_store", store}});
}

}  // namespace epochcache::worker
