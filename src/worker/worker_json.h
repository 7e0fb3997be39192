// The JSON documents of the worker's metadata endpoints (docs/api.md), as strings so that
// callers do not compile nlohmann::json.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "epochcache/page_store.h"
#include "epochcache/under_store.h"
#include "worker/worker_counters.h"

namespace epochcache::worker {

// {"path", "type": "file"|"directory", "size", "mtime_ns", "version"}
std::string StatJson(const FileStatus& status);
// {"path": <requested path>, "entries": [<stat objects>]}, plus "next_start_after" when
// `next_start_after` is set (more entries follow).
std::string ListJson(std::string_view path, const std::vector<FileStatus>& entries,
                     const std::optional<std::string>& next_start_after = std::nullopt);
// The counters and gauges, plus "page_store": the page store's stats with its "dirs".
std::string StatsJson(const WorkerCounters& counters, const WorkerGauges& gauges,
                      const PageStoreStats& page_store);

}  // namespace epochcache::worker
