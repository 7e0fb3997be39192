// The HTTP store's containment, credential and version rules against scripted local servers.
#include <gtest/gtest.h>

#include <algorithm>

#include "common/base64.h"
#include "scripted_http_server.h"
#include "understore/http_under_store.h"

namespace epochcache {
namespace {

using testing::ScriptedHttpServer;
constexpr const char* kPassword = "s3cretPW";

// "http://127.0.0.1:PORT" → "http://alice:s3cretPW@127.0.0.1:PORT".
std::string WithCredentials(const std::string& endpoint) {
  return "http://alice:" + std::string(kPassword) + "@" + endpoint.substr(7);
}

TEST(HttpSecurityTest, EscapesAreRefusedBeforeAnyRequest) {
  ScriptedHttpServer server({ScriptedHttpServer::Response(200, "root listing")});
  auto store = HttpUnderStore::Open(server.endpoint() + "/data", {});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const std::string data = server.endpoint() + "/data";
  for (const std::string& path : std::vector<std::string>{
           data + "/..?x=1",
           data + "/..",
           data + "/../secret",
           data + "/./x",
           data + "//x",
           data + "/x?y=1",
           data + "/x#frag",
           data + "/%2e%2e/secret",  // the server would decode it to ".."
           data + "/%2E%2e?x=1",
           data + "/sub/..%2fsecret",  // "%2f" is a '/' once decoded
           data + "/..%5csecret",      // '\' is a separator to some servers
           data + "/%3fx=1",           // "?" once decoded
           data + "/%zz",              // malformed escape
           data + "x/file",            // a sibling of the root, not under it
           server.endpoint() + "/secret",
       }) {
    std::vector<std::byte> buf(16);
    EXPECT_EQ((*store)->ReadRange(path, "", 0, buf).status().code(), StatusCode::kPermissionDenied)
        << path;
    EXPECT_EQ((*store)->Stat(path).status().code(), StatusCode::kPermissionDenied) << path;
  }
  EXPECT_TRUE(server.requests().empty()) << server.requests().front();
}

TEST(HttpSecurityTest, RootCredentialsNeverAppearInMessages) {
  ScriptedHttpServer server({ScriptedHttpServer::Response(
      403, std::string("denied: you sent alice:") + kPassword + " which is wrong")});
  const std::string root = WithCredentials(server.endpoint()) + "/data";
  auto store = HttpUnderStore::Open(root, {});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->root().find(kPassword), std::string::npos);
  std::vector<Status> statuses;
  statuses.push_back((*store)->Stat(server.endpoint() + "/data/x").status());
  // Paths never carry credentials, and are not echoed with them.
  statuses.push_back((*store)->Stat(root + "/x").status());
  std::vector<std::byte> buf(4);
  statuses.push_back((*store)->ReadRange(root + "/../x", "", 0, buf).status());
  statuses.push_back((*store)->List(server.endpoint() + "/data", false).status());
  statuses.push_back(HttpUnderStore::Open(root + "/../up", {}).status());
  statuses.push_back(HttpUnderStore::Open(WithCredentials("http://[::1/x"), {}).status());
  for (const auto& s : statuses) {
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.ToString().find(kPassword), std::string::npos) << s.ToString();
  }
  EXPECT_EQ(statuses[0].code(), StatusCode::kPermissionDenied);
  // The one request that went out carried the credentials, as Basic auth.
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1U);
  EXPECT_NE(requests[0].find("Authorization: Basic " + Base64Encode("alice:s3cretPW")),
            std::string::npos)
      << requests[0];
}

TEST(HttpSecurityTest, RedirectToAnotherOriginGetsNoCredentialsAndTheSameConditions) {
  ScriptedHttpServer cdn(
      {ScriptedHttpServer::Response(206, "cdef", "Content-Range: bytes 2-5/10\r\n")});
  ScriptedHttpServer origin({ScriptedHttpServer::Response(
      302, "REDIRECT-BODY", "Location: " + cdn.endpoint() + "/blob/123\r\n")});
  auto store = HttpUnderStore::Open(WithCredentials(origin.endpoint()) + "/data", {});
  ASSERT_TRUE(store.ok());
  std::vector<std::byte> buf(4);
  auto n = (*store)->ReadRange(origin.endpoint() + "/data/x", "etag:\"v1\"", 2, buf);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), *n),  // NOLINT
            "cdef");
  ASSERT_EQ(origin.requests().size(), 1U);
  EXPECT_NE(origin.requests()[0].find("Authorization: Basic"), std::string::npos);
  ASSERT_EQ(cdn.requests().size(), 1U);
  const std::string hop = cdn.requests()[0];
  EXPECT_TRUE(hop.starts_with("GET /blob/123 ")) << hop;
  EXPECT_EQ(hop.find("Authorization"), std::string::npos) << hop;
  EXPECT_EQ(hop.find(kPassword), std::string::npos);
  EXPECT_NE(hop.find("If-Match: \"v1\""), std::string::npos) << hop;
  EXPECT_NE(hop.find("Range: bytes=2-5"), std::string::npos) << hop;
}

TEST(HttpSecurityTest, RedirectsOnlyToHttpAndNeverTheirBody) {
  ScriptedHttpServer server({
      ScriptedHttpServer::Response(301, "REDIRECT-BODY", "Location: file:///etc/passwd\r\n"),
      ScriptedHttpServer::Response(302, "REDIRECT-BODY"),  // no Location: not a usable answer
  });
  auto store = HttpUnderStore::Open(server.endpoint() + "/data", {});
  ASSERT_TRUE(store.ok());
  std::vector<std::byte> buf(13, std::byte{0});
  auto to_file = (*store)->ReadRange(server.endpoint() + "/data/x", "", 0, buf);
  EXPECT_EQ(to_file.status().code(), StatusCode::kPermissionDenied) << to_file.status().ToString();
  auto no_location = (*store)->ReadRange(server.endpoint() + "/data/x", "", 0, buf);
  EXPECT_FALSE(no_location.ok());
  EXPECT_TRUE(std::all_of(buf.begin(), buf.end(), [](std::byte b) { return b == std::byte{0}; }));
}

TEST(HttpSecurityTest, LastModifiedVersionsAreSentAsIfUnmodifiedSince) {
  const std::string date = "Wed, 01 May 2024 12:00:00 GMT";
  ScriptedHttpServer server({
      ScriptedHttpServer::Response(200, "", "Last-Modified: " + date + "\r\n"),
      ScriptedHttpServer::Response(412, ""),
      ScriptedHttpServer::Response(206, "0123", "Content-Range: bytes 0-3/99\r\n"),
  });
  auto store = HttpUnderStore::Open(server.endpoint() + "/data", {});
  ASSERT_TRUE(store.ok());
  auto st = (*store)->Stat(server.endpoint() + "/data/x");
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->version, "lm:" + date + "-0");
  std::vector<std::byte> buf(4);
  EXPECT_EQ((*store)->ReadRange(server.endpoint() + "/data/x", st->version, 0, buf).status().code(),
            StatusCode::kChanged);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_NE(requests[1].find("If-Unmodified-Since: " + date), std::string::npos) << requests[1];
  EXPECT_EQ(requests[1].find("If-Match"), std::string::npos);
  // A size that no longer matches the version is a change too, even if the date was kept.
  EXPECT_EQ((*store)->ReadRange(server.endpoint() + "/data/x", st->version, 0, buf).status().code(),
            StatusCode::kChanged);
}

TEST(HttpSecurityTest, JunkContentLengthIsAClearError) {
  ScriptedHttpServer server({"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\nConnection: close\r\n\r\n"});
  auto store = HttpUnderStore::Open(server.endpoint() + "/data", {});
  ASSERT_TRUE(store.ok());
  auto st = (*store)->Stat(server.endpoint() + "/data/x");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find(server.endpoint() + "/data/x"), std::string::npos)
      << st.status().ToString();
}

}  // namespace
}  // namespace epochcache
