// GET /metrics and the operator's keys of GET /v1/stats.
#include "worker/metrics.h"

#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "epochcache/version.h"
#include "operations_fixture.h"
#include "worker/worker_json.h"

namespace epochcache::worker {
namespace {

using testing::OperationsTest;

// Every sample line of a text exposition, "name{labels}" -> value; fails the test on a line
// that is neither a comment nor "name[{...}] value".
std::map<std::string, double> Samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    EXPECT_NE(space, std::string::npos) << line;
    if (space == std::string::npos) continue;
    EXPECT_EQ(line.rfind("epochcache_", 0), 0u) << line;
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

TEST(MetricsLabels, UnknownEndpointsShareOneLabel) {
  EXPECT_EQ(EndpointLabel("/v1/read"), "/v1/read");
  EXPECT_EQ(EndpointLabel("/metrics"), "/metrics");
  EXPECT_EQ(EndpointLabel("/v1/../../etc"), "other");
  EXPECT_EQ(EndpointLabel(""), "other");
  EXPECT_EQ(ResultLabel(200), "2xx");
  EXPECT_EQ(ResultLabel(206), "2xx");
  EXPECT_EQ(ResultLabel(404), "4xx");
  EXPECT_EQ(ResultLabel(503), "5xx");
}

TEST_F(OperationsTest, MetricsMoveWithRequests) {
  under_.Put("/d/f", std::string(2 * testing::kOpsPageSize, 'x'));
  WorkerMetrics& metrics = router_->metrics();
  metrics.RecordRequest("/v1/read", 200, std::chrono::milliseconds(3));
  metrics.RecordRequest("/v1/read", 200, std::chrono::milliseconds(5));
  metrics.RecordRequest("/nope", 404, std::chrono::milliseconds(1));
  ASSERT_EQ(Call("POST", "/v1/load?path=/d/f").status, 200u);

  HttpReply reply = Call("GET", "/metrics");
  ASSERT_EQ(reply.status, 200u) << reply.body;
  EXPECT_EQ(reply.content_type.rfind("text/plain", 0), 0u);
  auto samples = Samples(reply.body);
  EXPECT_EQ((samples[R"(epochcache_requests_total{endpoint="/v1/read",result="2xx"})"]), 2);
  EXPECT_EQ((samples[R"(epochcache_requests_total{endpoint="other",result="4xx"})"]), 1);
  EXPECT_EQ(
      (samples[R"(epochcache_request_duration_seconds_count{endpoint="/v1/read",result="2xx"})"]),
      2);
  EXPECT_EQ(samples["epochcache_under_store_bytes_total"], 2 * testing::kOpsPageSize);
  EXPECT_EQ(samples["epochcache_loaded_bytes_total"], 2 * testing::kOpsPageSize);
  EXPECT_EQ(samples["epochcache_page_misses_total"], 2);
  EXPECT_EQ(samples[std::string("epochcache_build_info{version=\"") + EPOCHCACHE_VERSION + "\"}"],
            1);
  const std::string dir = cache_.str() + "/pages";
  EXPECT_EQ(samples["epochcache_cache_dir_pages{dir=\"" + dir + "\"}"], 2);
  EXPECT_GT(samples["epochcache_cache_dir_used_bytes{dir=\"" + dir + "\"}"], 0);
  for (const char* name :
       {"epochcache_page_hits_total", "epochcache_bytes_served_total", "epochcache_evictions_total",
        "epochcache_checksum_failures_total", "epochcache_inflight_miss_bytes",
        "epochcache_evicted_pages_total", "epochcache_uptime_seconds",
        "epochcache_page_verified_bytes_total", "epochcache_open_page_files"}) {
    EXPECT_TRUE(samples.contains(name)) << name;
  }

  // Counters keep moving across scrapes (they are brought up to the worker's counts).
  ASSERT_EQ(Call("POST", "/v1/evict?path=/d/f").status, 200u);
  ASSERT_EQ(Call("POST", "/v1/load?path=/d/f").status, 200u);
  auto later = Samples(Call("GET", "/metrics").body);
  EXPECT_EQ(later["epochcache_under_store_bytes_total"], 4 * testing::kOpsPageSize);
  EXPECT_EQ(later["epochcache_evicted_pages_total"], 2);
}

TEST_F(OperationsTest, StatsCarryTheOperatorsSummary) {
  under_.Put("/d/f", std::string(testing::kOpsPageSize, 'x'));
  ASSERT_EQ(Call("POST", "/v1/load?path=/d/f").status, 200u);
  ASSERT_EQ(Call("GET", "/v1/read?path=/d/f").status, 200u);
  auto j = Json(Call("GET", "/v1/stats"));
  EXPECT_EQ(j["version"], EPOCHCACHE_VERSION);
  EXPECT_GE(j["uptime_seconds"].get<double>(), 0);
  // One miss (the load), one hit (the read).
  EXPECT_DOUBLE_EQ(j["hit_ratio"].get<double>(), 0.5);
  EXPECT_EQ(j["under_store_bytes"], testing::kOpsPageSize);
  EXPECT_EQ(j["capacity_bytes"], 64u << 20);
  EXPECT_GT(j["used_bytes"].get<std::uint64_t>(), testing::kOpsPageSize);
  ASSERT_EQ(j["roots"].size(), 1u);
  EXPECT_EQ(j["roots"][0], "s3://***@minio.local:9000/bucket");  // no credentials
  EXPECT_EQ(j["page_store"]["dirs"].size(), 1u);                 // the existing keys stay
  // The hit opened the page and verified all its chunks; a second hit verifies nothing again.
  EXPECT_EQ(j["page_store"]["verified_bytes"], testing::kOpsPageSize);
  EXPECT_EQ(j["page_store"]["open_pages"], 1u);
  ASSERT_EQ(Call("GET", "/v1/read?path=/d/f").status, 200u);
  EXPECT_EQ(Json(Call("GET", "/v1/stats"))["page_store"]["verified_bytes"], testing::kOpsPageSize);
  EXPECT_EQ(Samples(Call("GET", "/metrics").body)["epochcache_page_verified_bytes_total"],
            testing::kOpsPageSize);
}

}  // namespace
}  // namespace epochcache::worker
