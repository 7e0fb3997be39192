// A router over an in-memory under store and a real page store in a temp dir, for the tests of
// the operations endpoints (/v1/load, /v1/evict, /metrics, /v1/stats).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "temp_dir.h"
#include "understore/memory_under_store.h"
#include "worker/request_router.h"

namespace epochcache::worker::testing {

inline constexpr std::uint64_t kOpsPageSize = 4096;

class OperationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PageStoreOptions options;
    options.dirs.push_back({cache_.str() + "/pages", 64 << 20});
    options.page_size = kOpsPageSize;
    auto pages = PageStore::Open(options);
    ASSERT_TRUE(pages.ok()) << pages.status().ToString();
    pages_ = std::move(pages).value();
    ReadServiceOptions read_options;
    read_options.roots = {"s3://AKIDEXAMPLE:s3cret@minio.local:9000/bucket"};
    service_ = std::make_unique<ReadService>(under_, *pages_, read_options);
    router_ = std::make_unique<RequestRouter>(*service_, 4 * kOpsPageSize);
  }

  HttpReply Call(const std::string& method, const std::string& target) {
    return router_->Handle(HttpRequest{method, target, std::nullopt});
  }
  nlohmann::json Json(const HttpReply& reply) {
    auto j = nlohmann::json::parse(reply.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << reply.body;
    return j;
  }
  std::uint64_t UnderStoreBytes() { return service_->counters().under_store_bytes.load(); }

  TempDir cache_;
  MemoryUnderStore under_;
  std::unique_ptr<PageStore> pages_;
  std::unique_ptr<ReadService> service_;
  std::unique_ptr<RequestRouter> router_;
};

inline std::string Header(const HttpReply& reply, std::string_view name) {
  for (const auto& [key, value] : reply.headers) {
    if (key == name) return value;
  }
  return {};
}

}  // namespace epochcache::worker::testing
