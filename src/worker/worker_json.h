// The JSON of the worker's /v1/stats (docs/api.md), as a string so that callers do not compile
// nlohmann::json. The documents the client reads back are in src/protocol.
#pragma once

#include <string>
#include <vector>

#include "epochcache/page_store.h"
#include "worker/worker_counters.h"

namespace epochcache::worker {

// The counters and gauges, plus "page_store": the page store's stats with its "dirs", and the
// summary an operator reads first ("version", "uptime_seconds", "hit_ratio",
// "capacity_bytes", "used_bytes", "roots": the under-store roots with user info redacted).
std::string StatsJson(const WorkerCounters& counters, const WorkerGauges& gauges,
                      const PageStoreStats& page_store, const std::vector<std::string>& roots = {});

}  // namespace epochcache::worker
