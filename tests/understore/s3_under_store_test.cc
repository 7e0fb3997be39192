// The S3 store against a scripted local HTTP server: signing headers, retries with backoff,
// error mapping, pagination, and that the secret never shows up in a message.
#include "understore/s3_under_store.h"

#include <gtest/gtest.h>

#include <chrono>

#include "scripted_http_server.h"

namespace epochcache {
namespace {

using testing::ScriptedHttpServer;
constexpr const char* kSecret = "SUPERSECRETKEYVALUE";

UnderStoreOptions Options(const std::string& endpoint, int attempts = 4) {
  UnderStoreOptions o;
  o.s3.endpoint_url = endpoint;
  o.s3.region = "us-east-1";
  o.s3.access_key_id = "AKIDEXAMPLE";
  o.s3.secret_access_key = kSecret;
  o.max_attempts = attempts;
  o.connect_timeout = std::chrono::milliseconds(500);
  o.request_timeout = std::chrono::milliseconds(2000);
  o.operation_deadline = std::chrono::milliseconds(10000);
  return o;
}

std::unique_ptr<S3UnderStore> Open(const std::string& endpoint, int attempts = 4) {
  auto store = S3UnderStore::Open("s3://bucket", Options(endpoint, attempts));
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return std::move(store).value();
}

const std::string kHeadOk = ScriptedHttpServer::Response(
    200, "", "ETag: \"e1\"\r\nLast-Modified: Wed, 01 May 2024 12:00:00 GMT\r\n");

TEST(S3UnderStoreTest, RetriesSlowDownAndServerErrorsThenSucceeds) {
  const std::string slow_down = ScriptedHttpServer::Response(
      503,
      "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>");
  // HEAD answers carry no body, so the 200 must not have Content-Length > 0 with no body.
  ScriptedHttpServer server({slow_down, ScriptedHttpServer::Response(500, ""), "", kHeadOk});
  auto store = Open(server.endpoint());
  auto st = store->Stat("s3://bucket/dir/a b+c.bin");
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->version, "e1");
  EXPECT_EQ(st->mtime_ns, 1714564800LL * 1'000'000'000);
  EXPECT_EQ(store->retries(), 3U);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 4U);
  for (const auto& r : requests) {
    EXPECT_TRUE(r.starts_with("HEAD /bucket/dir/a%20b%2Bc.bin HTTP/1.1")) << r;
    EXPECT_NE(r.find("Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"), std::string::npos);
    EXPECT_NE(r.find("x-amz-content-sha256: e3b0c442"), std::string::npos);
    EXPECT_EQ(r.find(kSecret), std::string::npos);
  }
}

TEST(S3UnderStoreTest, GivesUpAfterMaxAttemptsWithoutLeakingTheSecret) {
  ScriptedHttpServer server({ScriptedHttpServer::Response(500, "")});
  auto store = Open(server.endpoint(), 3);
  auto st = store->Stat("s3://bucket/k");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(st.status().message().find("s3://bucket/k"), std::string::npos);
  EXPECT_NE(st.status().message().find("after 3 attempts"), std::string::npos);
  EXPECT_EQ(st.status().message().find(kSecret), std::string::npos);
  EXPECT_EQ(server.requests().size(), 3U);
}

TEST(S3UnderStoreTest, MapsClientErrorsWithoutRetrying) {
  ScriptedHttpServer server({ScriptedHttpServer::Response(
      403, "<Error><Code>SignatureDoesNotMatch</Code><Message>bad sig</Message></Error>")});
  auto store = Open(server.endpoint());
  std::vector<std::byte> buf(10);
  auto r = store->ReadRange("s3://bucket/k", "", 0, buf);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(r.status().message().find("SignatureDoesNotMatch"), std::string::npos);
  EXPECT_EQ(r.status().message().find(kSecret), std::string::npos);
  EXPECT_EQ(server.requests().size(), 1U);
}

TEST(S3UnderStoreTest, RangedReadsCheckTheVersionAndTheRange) {
  ScriptedHttpServer server({
      ScriptedHttpServer::Response(206, "2345", "Content-Range: bytes 2-5/10\r\n"),
      ScriptedHttpServer::Response(412, "<Error><Code>PreconditionFailed</Code></Error>"),
      ScriptedHttpServer::Response(200, "0123456789"),
  });
  auto store = Open(server.endpoint());
  std::vector<std::byte> buf(4);
  auto ok = store->ReadRange("s3://bucket/k", "v1", 2, buf);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(*ok, 4U);
  EXPECT_NE(server.requests()[0].find("Range: bytes=2-5"), std::string::npos);
  EXPECT_NE(server.requests()[0].find("If-Match: \"v1\""), std::string::npos);
  EXPECT_EQ(store->ReadRange("s3://bucket/k", "v1", 2, buf).status().code(), StatusCode::kChanged);
  auto ignored = store->ReadRange("s3://bucket/k", "", 2, buf);
  ASSERT_FALSE(ignored.ok());
  EXPECT_NE(ignored.status().message().find("ignored the Range"), std::string::npos);
}

TEST(S3UnderStoreTest, ListFollowsContinuationTokens) {
  const std::string page1 = ScriptedHttpServer::Response(
      200,
      "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>t/2+</"
      "NextContinuationToken><Contents><Key>d%2Fa</Key><Size>1</Size></Contents>"
      "<CommonPrefixes><Prefix>d%2Fsub%2F</Prefix></CommonPrefixes></ListBucketResult>");
  const std::string page2 = ScriptedHttpServer::Response(
      200,
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>d%2Fb</Key><Size>2</Size>"
      "</Contents></ListBucketResult>");
  ScriptedHttpServer server({page1, page2});
  auto store = Open(server.endpoint());
  auto entries = store->List("s3://bucket/d", false);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(entries->size(), 3U);
  EXPECT_EQ((*entries)[0].path, "s3://bucket/d/a");
  EXPECT_EQ((*entries)[1].path, "s3://bucket/d/b");
  EXPECT_TRUE((*entries)[2].is_directory);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_NE(
      requests[0].find(
          "GET /bucket/?delimiter=%2F&encoding-type=url&list-type=2&max-keys=1000&prefix=d%2F "),
      std::string::npos)
      << requests[0];
  EXPECT_NE(requests[1].find("continuation-token=t%2F2%2B&"), std::string::npos) << requests[1];
}

TEST(S3UnderStoreTest, UnreachableEndpointFailsWithinTheDeadline) {
  // A port that was just free: nothing listens there.
  std::string endpoint;
  {
    ScriptedHttpServer probe({ScriptedHttpServer::Response(200, "")});
    endpoint = probe.endpoint();
  }
  auto store = Open(endpoint, 3);
  const auto start = std::chrono::steady_clock::now();
  auto st = store->Stat("s3://bucket/k");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(st.status().message().find("127.0.0.1"), std::string::npos);
}

TEST(S3UnderStoreTest, RefusesKeysOutsideTheRootAndAnonymousIsUnsigned) {
  ScriptedHttpServer server({kHeadOk});
  UnderStoreOptions o = Options(server.endpoint());
  o.s3.anonymous = true;
  auto store = S3UnderStore::Open("s3://bucket/train", o);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->Stat("s3://bucket/other/x").status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ((*store)->Stat("s3://elsewhere/train/x").status().code(),
            StatusCode::kPermissionDenied);
  ASSERT_TRUE((*store)->Stat("s3://bucket/train/x").ok());
  EXPECT_EQ(server.requests()[0].find("Authorization:"), std::string::npos);
  EXPECT_FALSE(S3UnderStore::Open("s3://b",
                                  [] {
                                    UnderStoreOptions bad;
                                    bad.s3.addressing = "sideways";
                                    return bad;
                                  }())
                   .ok());
}

}  // namespace
}  // namespace epochcache
