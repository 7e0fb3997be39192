// POST /v1/load and POST /v1/evict through the router: what they cache, drop and answer.
#include <gtest/gtest.h>

#include "operations_fixture.h"

namespace epochcache::worker {
namespace {

using testing::Header;
using testing::kOpsPageSize;
using testing::OperationsTest;

std::string Bytes(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

TEST_F(OperationsTest, LoadFetchesOnceThenReportsNothingFetched) {
  under_.Put("/d/f", Bytes(3 * kOpsPageSize + 10));
  HttpReply first = Call("POST", "/v1/load?path=/d/f&offset=0&length=100000");
  ASSERT_EQ(first.status, 200u) << first.body;
  auto j = Json(first);
  EXPECT_EQ(j["path"], "/d/f");
  EXPECT_EQ(j["bytes"], 3 * kOpsPageSize + 10);  // clipped to the file
  EXPECT_EQ(j["bytes_fetched"], 3 * kOpsPageSize + 10);
  EXPECT_FALSE(j["version"].get<std::string>().empty());
  EXPECT_EQ(UnderStoreBytes(), 3 * kOpsPageSize + 10);

  HttpReply second = Call("POST", "/v1/load?path=/d/f&offset=0&length=100000");
  ASSERT_EQ(second.status, 200u) << second.body;
  EXPECT_EQ(Json(second)["bytes_fetched"], 0u);
  EXPECT_EQ(UnderStoreBytes(), 3 * kOpsPageSize + 10);  // nothing read again

  // A read after the load is served from the page store alone.
  auto hit = router_->TryHandleWithoutUnderStore(HttpRequest{"GET", "/v1/read?path=/d/f", {}});
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->status, 200u);
}

TEST_F(OperationsTest, LoadOfARangeFetchesOnlyItsPages) {
  under_.Put("/d/f", Bytes(4 * kOpsPageSize));
  // [kOpsPageSize + 1, 2 * kOpsPageSize + 1) touches pages 1 and 2.
  HttpReply reply = Call("POST", "/v1/load?path=/d/f&offset=" + std::to_string(kOpsPageSize + 1) +
                                     "&length=" + std::to_string(kOpsPageSize));
  ASSERT_EQ(reply.status, 200u) << reply.body;
  EXPECT_EQ(UnderStoreBytes(), 2 * kOpsPageSize);
}

TEST_F(OperationsTest, LoadAndEvictTakePostOnly) {
  under_.Put("/d/f", "x");
  for (const char* target : {"/v1/load?path=/d/f", "/v1/evict?path=/d/f"}) {
    HttpReply reply = Call("GET", target);
    EXPECT_EQ(reply.status, 405u) << target;
    EXPECT_EQ(Header(reply, "Allow"), "POST");
  }
  HttpReply read = Call("POST", "/v1/read?path=/d/f");
  EXPECT_EQ(read.status, 405u);
  EXPECT_EQ(Header(read, "Allow"), "GET");
}

TEST_F(OperationsTest, LoadRefusesBadParametersAndPaths) {
  under_.Put("/d/f", "x");
  EXPECT_EQ(Call("POST", "/v1/load?path=/d/f&offset=x").status, 400u);
  EXPECT_EQ(Call("POST", "/v1/load?path=/d/f&length=-1").status, 400u);
  EXPECT_EQ(Call("POST", "/v1/load").status, 400u);
  EXPECT_EQ(Call("POST", "/v1/load?path=/d/../etc/passwd").status, 403u);
  EXPECT_EQ(Call("POST", "/v1/evict?path=/d/../etc/passwd").status, 403u);
  EXPECT_EQ(Call("POST", "/v1/load?path=/d/missing").status, 404u);
}

TEST_F(OperationsTest, LoadNeverRunsOnTheHitPath) {
  under_.Put("/d/f", "x");
  EXPECT_FALSE(router_->TryHandleWithoutUnderStore(HttpRequest{"POST", "/v1/load?path=/d/f", {}}));
  EXPECT_FALSE(router_->TryHandleWithoutUnderStore(HttpRequest{"POST", "/v1/evict?path=/d/f", {}}));
}

TEST_F(OperationsTest, EvictDropsThePagesSoTheNextReadFetchesThemOnce) {
  under_.Put("/d/f", Bytes(2 * kOpsPageSize));
  ASSERT_EQ(Call("POST", "/v1/load?path=/d/f").status, 200u);
  ASSERT_EQ(UnderStoreBytes(), 2 * kOpsPageSize);

  HttpReply evicted = Call("POST", "/v1/evict?path=/d/f");
  ASSERT_EQ(evicted.status, 200u) << evicted.body;
  EXPECT_EQ(Json(evicted)["pages_evicted"], 2u);
  EXPECT_EQ(pages_->Stats().dirs.at(0).pages, 0u);

  // Idempotent: nothing left to drop.
  HttpReply again = Call("POST", "/v1/evict?path=/d/f");
  ASSERT_EQ(again.status, 200u);
  EXPECT_EQ(Json(again)["pages_evicted"], 0u);

  // The next load (or read) fetches the file again, once.
  EXPECT_EQ(Json(Call("POST", "/v1/load?path=/d/f"))["bytes_fetched"], 2 * kOpsPageSize);
  EXPECT_EQ(Json(Call("POST", "/v1/load?path=/d/f"))["bytes_fetched"], 0u);
  EXPECT_EQ(UnderStoreBytes(), 4 * kOpsPageSize);
}

TEST_F(OperationsTest, EvictOfAFileGoneFromTheUnderStoreDropsItsCachedVersion) {
  under_.Put("/d/f", Bytes(kOpsPageSize));
  ASSERT_EQ(Call("POST", "/v1/load?path=/d/f").status, 200u);
  under_.Remove("/d/f");
  HttpReply evicted = Call("POST", "/v1/evict?path=/d/f");
  ASSERT_EQ(evicted.status, 200u) << evicted.body;
  EXPECT_EQ(Json(evicted)["pages_evicted"], 1u);
}

TEST_F(OperationsTest, EvictLeavesOtherFilesCached) {
  under_.Put("/d/a", Bytes(kOpsPageSize));
  under_.Put("/d/b", Bytes(kOpsPageSize));
  ASSERT_EQ(Call("POST", "/v1/load?path=/d/a").status, 200u);
  ASSERT_EQ(Call("POST", "/v1/load?path=/d/b").status, 200u);
  ASSERT_EQ(Call("POST", "/v1/evict?path=/d/a").status, 200u);
  EXPECT_EQ(Json(Call("POST", "/v1/load?path=/d/b"))["bytes_fetched"], 0u);
  EXPECT_EQ(Json(Call("POST", "/v1/load?path=/d/a"))["bytes_fetched"], kOpsPageSize);
}

}  // namespace
}  // namespace epochcache::worker
