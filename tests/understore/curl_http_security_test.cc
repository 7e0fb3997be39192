// The libcurl wrapper sends exactly the URL it is given and follows nothing.
#include <gtest/gtest.h>

#include "common/curl_http.h"
#include "scripted_http_server.h"

namespace epochcache {
namespace {

using testing::ScriptedHttpServer;

TEST(CurlHttpSecurityTest, DotSegmentsGoOutAsWrittenAndRedirectsAreReturnedNotFollowed) {
  ScriptedHttpServer elsewhere({ScriptedHttpServer::Response(200, "ELSEWHERE")});
  ScriptedHttpServer server({ScriptedHttpServer::Response(
      302, "REDIRECT-BODY", "Location: " + elsewhere.endpoint() + "/x\r\n")});
  CurlHttp http;
  HttpRequest request;
  request.url = server.endpoint() + "/a/b/../../c/./d";
  std::vector<std::byte> out(32, std::byte{0});
  request.body_out = out;
  auto response = http.Perform(request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 302);
  ASSERT_EQ(server.requests().size(), 1U);
  EXPECT_TRUE(server.requests()[0].starts_with("GET /a/b/../../c/./d HTTP/1.1"))
      << server.requests()[0];
  EXPECT_TRUE(elsewhere.requests().empty());
  EXPECT_EQ(out[0], std::byte{0});  // a redirect's body never lands in the caller's buffer
}

TEST(CurlHttpSecurityTest, UrlHelpersNeverShowUserinfo) {
  EXPECT_EQ(RedactUserinfo("http://u:p@h:1/x@y"), "http://***@h:1/x@y");
  EXPECT_EQ(RedactUserinfo("http://h/x"), "http://h/x");
  EXPECT_EQ(RedactUserinfo("s3://bucket/key"), "s3://bucket/key");
  auto parts = ParseHttpUrl("HTTP://alice:p%40ss@Example.COM/a/../b?q=1");
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  EXPECT_EQ(parts->Origin(), "http://example.com:80");
  EXPECT_EQ(parts->path, "/a/../b");
  EXPECT_EQ(parts->query, "q=1");
  EXPECT_EQ(parts->user, "alice");
  EXPECT_EQ(parts->password, "p@ss");
  auto bad = ParseHttpUrl("ftp://alice:secretpw@h/x");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().find("secretpw"), std::string::npos);
  auto rel = ResolveRedirect("https://h/data/x", "/cdn/blob?sig=1");
  ASSERT_TRUE(rel.ok());
  EXPECT_EQ(*rel, "https://h/cdn/blob?sig=1");
}

}  // namespace
}  // namespace epochcache
