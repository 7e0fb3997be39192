#include "protocol/error_json.h"

#include <gtest/gtest.h>

#include <string>

#include "protocol/status_http.h"

namespace epochcache::protocol {
namespace {

TEST(ErrorJsonTest, RoundTripsEveryErrorCode) {
  for (int i = 1; i <= static_cast<int>(StatusCode::kCancelled); ++i) {
    const Status status(static_cast<StatusCode>(i), "what went wrong with /a/b");
    const Status back = DecodeError(HttpStatusFor(status.code()), EncodeError(status));
    EXPECT_EQ(back.code(), status.code()) << StatusCodeName(status.code());
    EXPECT_EQ(back.message(), status.message());
  }
}

TEST(ErrorJsonTest, EncodesTheDocumentedShape) {
  EXPECT_EQ(EncodeError(Status::NotFound("/a does not exist")),
            R"({"error":"not_found","message":"/a does not exist"})");
  // A path is arbitrary bytes: invalid UTF-8 is replaced, never thrown on.
  EXPECT_NE(EncodeError(Status::NotFound("/a\xff")).find("/a"), std::string::npos);
}

TEST(ErrorJsonTest, BodiesWithoutAKnownCodeFallBackOnTheHttpStatus) {
  const Status html = DecodeError(502, "<html>Bad Gateway</html>");
  EXPECT_EQ(html.code(), StatusCode::kIoError);
  EXPECT_NE(html.message().find("the worker answered HTTP 502: <html>"), std::string::npos)
      << html.message();
  EXPECT_NE(DecodeError(500, "x", "/f: worker h:1").message().find("/f: worker h:1 answered"),
            std::string::npos);
  EXPECT_NE(html.message().find("Bad Gateway"), std::string::npos) << html.message();
  EXPECT_EQ(DecodeError(404, R"({"error":"no_such_code","message":"m"})").code(),
            StatusCode::kNotFound);
  EXPECT_EQ(DecodeError(503, R"({"error":"ok"})").code(), StatusCode::kUnavailable);
  EXPECT_EQ(DecodeError(403, R"({"error":7})").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(DecodeError(401, "").code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(DecodeError(200, "").code(), StatusCode::kIoError);  // never OK
  const Status no_message = DecodeError(409, R"({"error":"changed"})");
  EXPECT_EQ(no_message.code(), StatusCode::kChanged);
  EXPECT_FALSE(no_message.message().empty());
}

TEST(ErrorJsonTest, A416IsChangedWhateverItsBodySays) {
  const Status status =
      DecodeError(416, EncodeError(Status::InvalidArgument("range starts past the end")));
  EXPECT_EQ(status.code(), StatusCode::kChanged);
  EXPECT_NE(status.message().find("range starts past the end"), std::string::npos)
      << status.message();
}

TEST(ErrorJsonTest, ALongBodyIsCut) {
  const Status status = DecodeError(500, std::string(10000, 'x'));
  EXPECT_LT(status.message().size(), 300U);
}

}  // namespace
}  // namespace epochcache::protocol
