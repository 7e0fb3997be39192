// The worker's Prometheus metrics (GET /metrics, docs/metrics.md): one prometheus-cpp registry
// rendered with its text serializer and served by our own HTTP server.
//
// Request counts and latencies are recorded as requests finish. Everything the worker already
// counts (WorkerCounters, the page store's stats) is copied into the registry when it is
// scraped, so the read path pays for no second set of counters.
//
// Thread-safety: safe to use from many threads at once.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "epochcache/page_store.h"
#include "worker/worker_counters.h"

namespace epochcache::worker {

class WorkerMetrics {
 public:
  WorkerMetrics();
  ~WorkerMetrics();
  WorkerMetrics(const WorkerMetrics&) = delete;
  WorkerMetrics& operator=(const WorkerMetrics&) = delete;

  // One finished request: `endpoint` is the request path (anything but a known endpoint is
  // counted as "other", so a scanner cannot create label values), `status` its HTTP status.
  void RecordRequest(std::string_view endpoint, unsigned status,
                     std::chrono::duration<double> elapsed);

  // The text exposition of every metric, after copying in the current counters and gauges.
  std::string Render(const WorkerCounters& counters, const WorkerGauges& gauges,
                     const PageStoreStats& page_store);

  [[nodiscard]] double uptime_seconds() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The label value of an endpoint path (the known endpoints of src/protocol/wire.h, else
// "other") and of an HTTP status ("2xx", "4xx", "5xx").
std::string_view EndpointLabel(std::string_view path);
std::string_view ResultLabel(unsigned status);

}  // namespace epochcache::worker
