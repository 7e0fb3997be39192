// The S3 store's containment and credential rules against scripted local servers: a path that
// leaves the root's prefix sends nothing; a redirect is never followed, so no credential reaches
// another host and no redirect body is taken for the object; server numbers never throw.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "scripted_http_server.h"
#include "understore/s3_under_store.h"

namespace epochcache {
namespace {

using testing::ScriptedHttpServer;
constexpr const char* kSecret = "SUPERSECRETKEYVALUE";
constexpr const char* kToken = "SESSIONTOKENVALUE123";

UnderStoreOptions Options(const std::string& endpoint) {
  UnderStoreOptions o;
  o.s3.endpoint_url = endpoint;
  o.s3.region = "us-east-1";
  o.s3.access_key_id = "AKIDEXAMPLE";
  o.s3.secret_access_key = kSecret;
  o.s3.session_token = kToken;
  o.max_attempts = 2;
  o.connect_timeout = std::chrono::milliseconds(500);
  o.request_timeout = std::chrono::milliseconds(2000);
  o.operation_deadline = std::chrono::milliseconds(5000);
  return o;
}

std::unique_ptr<S3UnderStore> Open(const std::string& root, const std::string& endpoint) {
  auto store = S3UnderStore::Open(root, Options(endpoint));
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return std::move(store).value();
}

TEST(S3SecurityTest, DotSegmentEscapesAreRefusedBeforeAnyRequest) {
  ScriptedHttpServer server({ScriptedHttpServer::Response(200, "other bucket's object")});
  auto store = Open("s3://bucket/prefix", server.endpoint());
  // "%2e%2e" arrives here decoded once by the worker, i.e. as "..": every spelling that a
  // later layer could collapse is refused, including ones that look harmless.
  for (const std::string& path : std::vector<std::string>{
           "s3://bucket/prefix/../../otherbucket/key.txt",
           "s3://bucket/prefix/../prefix2/key.txt",
           "s3://bucket/prefix/./key.txt",
           "s3://bucket/prefix//key.txt",
           "s3://bucket/prefix/key.txt?versionId=1",
           "s3://bucket/prefix/sub/..",
       }) {
    std::vector<std::byte> buf(64);
    EXPECT_EQ(store->ReadRange(path, "", 0, buf).status().code(), StatusCode::kPermissionDenied)
        << path;
    EXPECT_EQ(store->Stat(path).status().code(), StatusCode::kPermissionDenied) << path;
    EXPECT_EQ(store->List(path, true).status().code(), StatusCode::kPermissionDenied) << path;
  }
  EXPECT_TRUE(server.requests().empty()) << server.requests().front();
}

TEST(S3SecurityTest, PercentSpellingsStayLiteralKeysInsideThePrefix) {
  // Not decoded again here: "%2e%2e" is a key segment named "%2e%2e", sent as "%252e%252e",
  // so it stays below the prefix on the wire.
  ScriptedHttpServer server({ScriptedHttpServer::Response(404, "")});
  auto store = Open("s3://bucket/prefix", server.endpoint());
  std::vector<std::byte> buf(8);
  EXPECT_EQ(store->ReadRange("s3://bucket/prefix/%2e%2e/%2e%2e/otherbucket/key.txt", "", 0, buf)
                .status()
                .code(),
            StatusCode::kNotFound);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1U);
  EXPECT_TRUE(
      requests[0].starts_with("GET /bucket/prefix/%252e%252e/%252e%252e/otherbucket/key.txt "))
      << requests[0];
}

TEST(S3SecurityTest, RedirectIsNotFollowedAndItsBodyIsNotTheObject) {
  ScriptedHttpServer elsewhere({ScriptedHttpServer::Response(200, "ELSEWHERE-BYTES")});
  ScriptedHttpServer s3({ScriptedHttpServer::Response(307, "REDIRECT-BODY",
                                                      "Location: " + elsewhere.endpoint() +
                                                          "/bucket/prefix/key.txt\r\n" +
                                                          "x-amz-bucket-region: eu-west-3\r\n")});
  auto store = Open("s3://bucket/prefix", s3.endpoint());
  std::vector<std::byte> buf(64, std::byte{0});
  auto read = store->ReadRange("s3://bucket/prefix/key.txt", "", 0, buf);
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.status().message().find("eu-west-3"), std::string::npos)
      << read.status().ToString();
  EXPECT_NE(read.status().message().find("redirect"), std::string::npos);
  EXPECT_EQ(read.status().message().find(kToken), std::string::npos);
  EXPECT_EQ(read.status().message().find(kSecret), std::string::npos);
  EXPECT_TRUE(elsewhere.requests().empty());  // the token never reached another host
  EXPECT_TRUE(std::all_of(buf.begin(), buf.end(), [](std::byte b) { return b == std::byte{0}; }));
  ASSERT_EQ(s3.requests().size(), 1U);  // not retried either
  EXPECT_NE(s3.requests()[0].find(std::string("x-amz-security-token: ") + kToken),
            std::string::npos);

  // A HEAD (Stat) redirected the same way is an error too, not a file.
  auto st = store->Stat("s3://bucket/prefix/key.txt");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("eu-west-3"), std::string::npos);
  EXPECT_TRUE(elsewhere.requests().empty());
}

TEST(S3SecurityTest, EchoedCredentialsAreScrubbedFromMessages) {
  ScriptedHttpServer server({ScriptedHttpServer::Response(
      403, std::string("<Error><Code>AccessDenied</Code><Message>token ") + kToken + " secret " +
               kSecret + "</Message></Error>")});
  auto store = Open("s3://bucket", server.endpoint());
  std::vector<std::byte> buf(8);
  auto read = store->ReadRange("s3://bucket/k", "", 0, buf);
  ASSERT_EQ(read.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(read.status().message().find("AccessDenied"), std::string::npos);
  EXPECT_EQ(read.status().message().find(kToken), std::string::npos) << read.status().ToString();
  EXPECT_EQ(read.status().message().find(kSecret), std::string::npos);
}

std::string HeadWithLength(const std::string& length) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + length +
         "\r\nETag: \"e\"\r\nConnection: close\r\n\r\n";
}

TEST(S3SecurityTest, JunkOrHugeContentLengthIsAClearError) {
  for (const std::string& length :
       std::vector<std::string>{"99999999999999999999999", "12abc", "1 2", "0x10"}) {
    ScriptedHttpServer server({HeadWithLength(length)});
    auto st = Open("s3://bucket", server.endpoint())->Stat("s3://bucket/k");
    ASSERT_FALSE(st.ok()) << length;
    EXPECT_EQ(st.status().code(), StatusCode::kIoError) << st.status().ToString();
    EXPECT_NE(st.status().message().find("content-length"), std::string::npos);
    EXPECT_NE(st.status().message().find("s3://bucket/k"), std::string::npos);
  }
  // libcurl refuses this one itself: still an error naming the object.
  ScriptedHttpServer server({HeadWithLength("-1")});
  auto st = Open("s3://bucket", server.endpoint())->Stat("s3://bucket/k");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("s3://bucket/k"), std::string::npos);
}

TEST(S3SecurityTest, JunkNumbersInAListingAreAClearError) {
  for (const std::string& size : std::vector<std::string>{"99999999999999999999999", "-1", ""}) {
    ScriptedHttpServer server({ScriptedHttpServer::Response(
        200, "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>d/a</Key><Size>" +
                 size +
                 "</Size><LastModified>not a date</LastModified></Contents>"
                 "</ListBucketResult>")});
    auto listed = Open("s3://bucket", server.endpoint())->List("s3://bucket/d", false);
    ASSERT_FALSE(listed.ok()) << size;
    EXPECT_EQ(listed.status().code(), StatusCode::kInvalidArgument) << listed.status().ToString();
    EXPECT_NE(listed.status().message().find("Size"), std::string::npos);
    EXPECT_NE(listed.status().message().find("s3://bucket/d"), std::string::npos);
  }
}

}  // namespace
}  // namespace epochcache
