#include "worker/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <atomic>
#include <mutex>

#include "epochcache/version.h"
#include "protocol/wire.h"

namespace epochcache::worker {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

constexpr std::array<std::string_view, 9> kEndpoints = {
    protocol::kReadPath,   protocol::kStatPath,  protocol::kListPath,
    protocol::kHealthPath, protocol::kStatsPath, protocol::kMetricsPath,
    protocol::kLoadPath,   protocol::kEvictPath, "other"};

std::uint64_t Load(const std::atomic<std::uint64_t>& counter) {
  return counter.load(std::memory_order_relaxed);
}

constexpr std::array<std::string_view, 4> kResults = {"2xx", "3xx", "4xx", "5xx"};

// Indices into kEndpoints and kResults: the labels of a request, without building strings.
std::size_t EndpointIndex(std::string_view path) {
  for (std::size_t i = 0; i + 1 < kEndpoints.size(); ++i) {
    if (kEndpoints[i] == path) return i;
  }
  return kEndpoints.size() - 1;  // "other"
}

std::size_t ResultIndex(unsigned status) {
  if (status < 300) return 0;
  if (status < 400) return 1;
  if (status < 500) return 2;
  return 3;
}

}  // namespace

std::string_view EndpointLabel(std::string_view path) { return kEndpoints[EndpointIndex(path)]; }

std::string_view ResultLabel(unsigned status) { return kResults[ResultIndex(status)]; }

struct WorkerMetrics::State {
  using CounterFamily = prometheus::Family<prometheus::Counter>;
  using GaugeFamily = prometheus::Family<prometheus::Gauge>;

  State()
      : registry(std::make_shared<prometheus::Registry>()),
        started(std::chrono::steady_clock::now()),
        requests(BuildCounter()
                     .Name("epochcache_requests_total")
                     .Help("HTTP requests answered, by endpoint and result (2xx, 4xx, 5xx)")
                     .Register(*registry)),
        latency(BuildHistogram()
                    .Name("epochcache_request_duration_seconds")
                    .Help("Time from a request being read to its last response byte written")
                    .Register(*registry)),
        dir_used(BuildGauge()
                     .Name("epochcache_cache_dir_used_bytes")
                     .Help("Bytes of page files in each cache dir")
                     .Register(*registry)),
        dir_capacity(BuildGauge()
                         .Name("epochcache_cache_dir_capacity_bytes")
                         .Help("Capacity of each cache dir")
                         .Register(*registry)),
        dir_pages(BuildGauge()
                      .Name("epochcache_cache_dir_pages")
                      .Help("Pages in each cache dir")
                      .Register(*registry)),
        dir_healthy(BuildGauge()
                        .Name("epochcache_cache_dir_healthy")
                        .Help("1 while a cache dir is in service, 0 after it was taken out")
                        .Register(*registry)) {
    BuildGauge()
        .Name("epochcache_build_info")
        .Help("Always 1; the label says the worker's build version")
        .Register(*registry)
        .Add({{"version", EPOCHCACHE_VERSION}})
        .Set(1);
    auto counter = [&](const char* name, const char* help) -> prometheus::Counter& {
      return BuildCounter().Name(name).Help(help).Register(*registry).Add({});
    };
    auto gauge = [&](const char* name, const char* help) -> prometheus::Gauge& {
      return BuildGauge().Name(name).Help(help).Register(*registry).Add({});
    };
    hits = &counter("epochcache_page_hits_total", "Page slices served from the page store");
    misses = &counter("epochcache_page_misses_total",
                      "Page slices fetched from the under store (or joined to a fetch)");
    bytes_served = &counter("epochcache_bytes_served_total", "File bytes sent to clients");
    under_bytes = &counter("epochcache_under_store_bytes_total",
                           "Bytes read from the under store on misses and loads");
    under_reads = &counter("epochcache_under_store_reads_total", "Reads made on the under store");
    under_errors = &counter("epochcache_under_store_errors_total",
                            "Failed calls (reads, stats, listings) on the under store");
    evictions =
        &counter("epochcache_evictions_total", "Pages evicted by the cache policy to make room");
    evicted_by_request =
        &counter("epochcache_evicted_pages_total", "Pages dropped by POST /v1/evict");
    loaded_bytes = &counter("epochcache_loaded_bytes_total",
                            "Bytes POST /v1/load had to fetch from the under store");
    checksum_failures = &counter("epochcache_checksum_failures_total",
                                 "Cached pages that failed verification and were dropped");
    verified_bytes =
        &counter("epochcache_page_verified_bytes_total",
                 "Bytes read back from page files to verify their checksums (a chunk "
                 "is verified when first read and again every --page-verify-interval)");
    local_reads = &counter("epochcache_local_reads_total",
                           "Reads answered with page files on the local read socket");
    local_read_bytes = &counter("epochcache_local_read_bytes_total",
                                "Bytes of the reads answered on the local read socket");
    local_declines = &counter("epochcache_local_declines_total",
                              "Reads the local read socket declined (not all cached); the "
                              "client then asked over HTTP");
    local_refusals = &counter("epochcache_local_refusals_total",
                              "Connections to the local read socket refused (another user, "
                              "over the limit)");
    miss_refusals = &counter("epochcache_miss_budget_refusals_total",
                             "Misses refused because in-flight miss bytes were at the limit");
    joins = &counter("epochcache_single_flight_joins_total",
                     "Misses that waited on a concurrent fetch of the same page");
    version_changes = &counter("epochcache_version_changes_total",
                               "Reads that found the object replaced under them");
    inflight = &gauge("epochcache_inflight_miss_bytes",
                      "Bytes of fetched pages held in memory until sent");
    inflight_limit = &gauge("epochcache_inflight_miss_limit_bytes",
                            "The limit on in-flight miss bytes (--max-inflight-miss-bytes)");
    open_pages = &gauge("epochcache_open_page_files",
                        "Page files held open between reads (at most --max-open-pages)");
    metadata_entries =
        &gauge("epochcache_metadata_cache_entries", "File statuses in the metadata cache");
    uptime = &gauge("epochcache_uptime_seconds", "Seconds since the worker started");
    auto& requests_by_kind =
        BuildCounter()
            .Name("epochcache_under_store_requests_total")
            .Help(
                "Calls made on the under store, by kind: stat, list (one per listing or "
                "listing page asked for) and read")
            .Register(*registry);
    under_stats = &requests_by_kind.Add({{"kind", "stat"}});
    under_lists = &requests_by_kind.Add({{"kind", "list"}});
    under_reads_by_kind = &requests_by_kind.Add({{"kind", "read"}});
    metadata_hits =
        &counter("epochcache_metadata_hits_total", "File statuses served from the metadata cache");
    metadata_misses = &counter("epochcache_metadata_misses_total",
                               "File statuses the metadata cache did not have (or had too old)");
    metadata_stale_hits = &counter("epochcache_metadata_stale_hits_total",
                                   "File statuses served past --metadata-ttl while refreshed");
    metadata_refreshes = &counter("epochcache_metadata_refreshes_total",
                                  "Background refreshes of stale statuses run");
    metadata_refresh_failures = &counter("epochcache_metadata_refresh_failures_total",
                                         "Background refreshes the under store failed");
    metadata_refreshes_dropped =
        &counter("epochcache_metadata_refreshes_dropped_total",
                 "Background refreshes not queued because the queue was full");
  }

  // Brings `counter` up to `value` (counters only move up; a value below the last one seen is
  // ignored).
  static void Sync(prometheus::Counter* counter, std::uint64_t value) {
    const double now = static_cast<double>(value);
    if (now > counter->Value()) counter->Increment(now - counter->Value());
  }

  std::shared_ptr<prometheus::Registry> registry;
  std::chrono::steady_clock::time_point started;
  CounterFamily& requests;
  prometheus::Family<prometheus::Histogram>& latency;
  // The children of `requests` and `latency` per (endpoint, result), once created.
  struct RequestChildren {
    std::atomic<prometheus::Counter*> count{nullptr};
    std::atomic<prometheus::Histogram*> latency{nullptr};
  };
  std::array<std::array<RequestChildren, kResults.size()>, kEndpoints.size()> by_request;
  GaugeFamily& dir_used;
  GaugeFamily& dir_capacity;
  GaugeFamily& dir_pages;
  GaugeFamily& dir_healthy;
  prometheus::Counter* hits = nullptr;
  prometheus::Counter* misses = nullptr;
  prometheus::Counter* bytes_served = nullptr;
  prometheus::Counter* under_bytes = nullptr;
  prometheus::Counter* under_reads = nullptr;
  prometheus::Counter* under_errors = nullptr;
  prometheus::Counter* evictions = nullptr;
  prometheus::Counter* evicted_by_request = nullptr;
  prometheus::Counter* loaded_bytes = nullptr;
  prometheus::Counter* checksum_failures = nullptr;
  prometheus::Counter* verified_bytes = nullptr;
  prometheus::Counter* local_reads = nullptr;
  prometheus::Counter* local_read_bytes = nullptr;
  prometheus::Counter* local_declines = nullptr;
  prometheus::Counter* local_refusals = nullptr;
  prometheus::Gauge* open_pages = nullptr;
  prometheus::Counter* miss_refusals = nullptr;
  prometheus::Counter* joins = nullptr;
  prometheus::Counter* version_changes = nullptr;
  prometheus::Counter* under_stats = nullptr;
  prometheus::Counter* under_lists = nullptr;
  prometheus::Counter* under_reads_by_kind = nullptr;
  prometheus::Counter* metadata_hits = nullptr;
  prometheus::Counter* metadata_misses = nullptr;
  prometheus::Counter* metadata_stale_hits = nullptr;
  prometheus::Counter* metadata_refreshes = nullptr;
  prometheus::Counter* metadata_refresh_failures = nullptr;
  prometheus::Counter* metadata_refreshes_dropped = nullptr;
  prometheus::Gauge* inflight = nullptr;
  prometheus::Gauge* inflight_limit = nullptr;
  prometheus::Gauge* metadata_entries = nullptr;
  prometheus::Gauge* uptime = nullptr;
  std::mutex render_mu;  // one scrape at a time copies the counters in
};

WorkerMetrics::WorkerMetrics() : state_(std::make_unique<State>()) {}
WorkerMetrics::~WorkerMetrics() = default;

void WorkerMetrics::RecordRequest(std::string_view endpoint, unsigned status,
                                  std::chrono::duration<double> elapsed) {
  State::RequestChildren& children =
      state_->by_request[EndpointIndex(endpoint)][ResultIndex(status)];
  prometheus::Counter* count = children.count.load(std::memory_order_acquire);
  prometheus::Histogram* latency = children.latency.load(std::memory_order_acquire);
  if (count == nullptr || latency == nullptr) {
    // First request with these labels: Family::Add creates the children (or returns them,
    // if another thread just did), whose addresses stay valid while the family lives. Later
    // requests skip building the labels and the family's lock: this runs for every request.
    const prometheus::Labels labels{{"endpoint", std::string(EndpointLabel(endpoint))},
                                    {"result", std::string(ResultLabel(status))}};
    static const prometheus::Histogram::BucketBoundaries kBuckets = {
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
    count = &state_->requests.Add(labels);
    latency = &state_->latency.Add(labels, kBuckets);
    children.count.store(count, std::memory_order_release);
    children.latency.store(latency, std::memory_order_release);
  }
  count->Increment();
  latency->Observe(elapsed.count());
}

double WorkerMetrics::uptime_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - state_->started).count();
}

std::string WorkerMetrics::Render(const WorkerCounters& counters, const WorkerGauges& gauges,
                                  const PageStoreStats& page_store) {
  State& s = *state_;
  {
    std::lock_guard lock(s.render_mu);
    State::Sync(s.hits, Load(counters.page_hits));
    State::Sync(s.misses, Load(counters.page_misses));
    State::Sync(s.bytes_served, Load(counters.bytes_served));
    State::Sync(s.under_bytes, Load(counters.under_store_bytes));
    State::Sync(s.under_reads, Load(counters.under_store_reads));
    State::Sync(s.under_errors, Load(counters.under_store_errors));
    State::Sync(s.evictions, page_store.evictions);
    State::Sync(s.evicted_by_request, Load(counters.evicted_pages));
    State::Sync(s.loaded_bytes, Load(counters.loaded_bytes));
    State::Sync(s.checksum_failures, page_store.checksum_failures);
    State::Sync(s.verified_bytes, page_store.verified_bytes);
    s.open_pages->Set(static_cast<double>(page_store.open_pages));
    State::Sync(s.local_reads, Load(counters.local_reads));
    State::Sync(s.local_read_bytes, Load(counters.local_read_bytes));
    State::Sync(s.local_declines, Load(counters.local_declines));
    State::Sync(s.local_refusals, Load(counters.local_refusals));
    State::Sync(s.miss_refusals, Load(counters.miss_budget_refusals));
    State::Sync(s.joins, Load(counters.single_flight_joins));
    State::Sync(s.version_changes, Load(counters.version_changes));
    State::Sync(s.under_stats, Load(counters.under_store_stats));
    State::Sync(s.under_lists, Load(counters.under_store_lists));
    State::Sync(s.under_reads_by_kind, Load(counters.under_store_reads));
    State::Sync(s.metadata_hits, Load(counters.metadata_hits));
    State::Sync(s.metadata_misses, Load(counters.metadata_misses));
    State::Sync(s.metadata_stale_hits, Load(counters.metadata_stale_hits));
    State::Sync(s.metadata_refreshes, Load(counters.metadata_refreshes));
    State::Sync(s.metadata_refresh_failures, Load(counters.metadata_refresh_failures));
    State::Sync(s.metadata_refreshes_dropped, Load(counters.metadata_refreshes_dropped));
    s.inflight->Set(static_cast<double>(gauges.inflight_miss_bytes));
    s.inflight_limit->Set(static_cast<double>(gauges.inflight_miss_limit));
    s.metadata_entries->Set(static_cast<double>(gauges.metadata_cache_entries));
    s.uptime->Set(uptime_seconds());
    for (const auto& dir : page_store.dirs) {
      const prometheus::Labels labels{{"dir", dir.path}};
      s.dir_used.Add(labels).Set(static_cast<double>(dir.used_bytes));
      s.dir_capacity.Add(labels).Set(static_cast<double>(dir.capacity_bytes));
      s.dir_pages.Add(labels).Set(static_cast<double>(dir.pages));
      s.dir_healthy.Add(labels).Set(dir.healthy ? 1 : 0);
    }
  }
  return prometheus::TextSerializer().Serialize(s.registry->Collect());
}

}  // namespace epochcache::worker
