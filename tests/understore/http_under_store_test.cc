#include "understore/http_under_store.h"

#include <gtest/gtest.h>

#include "scripted_http_server.h"

namespace epochcache {
namespace {

using testing::ScriptedHttpServer;

TEST(HttpUnderStoreTest, StatsAndReadsRangesWithIfMatch) {
  ScriptedHttpServer server({
      ScriptedHttpServer::Response(200, "", "ETag: \"abc\"\r\n"),
      ScriptedHttpServer::Response(206, "cdef", "Content-Range: bytes 2-5/10\r\n"),
  });
  auto store = HttpUnderStore::Open(server.endpoint() + "/datasets", {});
  ASSERT_TRUE(store.ok());
  // HEAD answers here carry "Content-Length: 0" from the scripted helper.
  auto st = (*store)->Stat(server.endpoint() + "/datasets/x.parquet");
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->version, "etag:\"abc\"");
  std::vector<std::byte> buf(4);
  auto n = (*store)->ReadRange(server.endpoint() + "/datasets/x.parquet", st->version, 2, buf);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 4U);
  const auto reqs = server.requests();
  EXPECT_NE(reqs[1].find("Range: bytes=2-5"), std::string::npos);
  EXPECT_NE(reqs[1].find("If-Match: \"abc\""), std::string::npos);
}

TEST(HttpUnderStoreTest, ServerIgnoringRangeIsAClearError) {
  ScriptedHttpServer server({ScriptedHttpServer::Response(200, "0123456789")});
  auto store = HttpUnderStore::Open(server.endpoint(), {});
  ASSERT_TRUE(store.ok());
  std::vector<std::byte> buf(4);
  auto n = (*store)->ReadRange(server.endpoint() + "/f", "", 2, buf);
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.status().message().find("ignored the Range header"), std::string::npos);
}

TEST(HttpUnderStoreTest, MapsErrorsAndBoundsPaths) {
  ScriptedHttpServer server({ScriptedHttpServer::Response(404, "")});
  auto store = HttpUnderStore::Open(server.endpoint() + "/root", {});
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->Stat(server.endpoint() + "/root/missing").status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ((*store)->Stat(server.endpoint() + "/rootless/x").status().code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ((*store)->Stat(server.endpoint() + "/root/../etc").status().code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ((*store)->List(server.endpoint() + "/root", false).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(HttpUnderStore::Open("ftp://x", {}).ok());
}

}  // namespace
}  // namespace epochcache
