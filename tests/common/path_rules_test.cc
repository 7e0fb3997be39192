#include "common/path_rules.h"

#include <gtest/gtest.h>

#include <string>

namespace epochcache {
namespace {

TEST(PathRulesTest, AcceptsOrdinaryPaths) {
  for (const std::string_view ok :
       {"/data/train/x.parquet", "file:///data/x", "s3://bucket", "s3://bucket/", "s3://b/k",
        "s3://b/dir/", "http://127.0.0.1:8080/prefix/a%2Fb", "/", "/a/..b/c..", "/a/.hidden",
        "s3://b/with space/and+plus", "/data/%2e%2e"}) {
    EXPECT_TRUE(CheckUnderPath(ok).ok()) << ok << ": " << CheckUnderPath(ok).ToString();
  }
}

TEST(PathRulesTest, RefusesEverySpellingALaterLayerCouldCollapse) {
  for (const std::string_view bad :
       {"s3://bucket/prefix/../../other/key.txt", "s3://b/a/./k", "s3://b/a//k", "s3://b//",
        "/data/..", "/data/../etc/passwd", "/./x", "//x", "http://h/data/..?x=1",
        "http://h/data/x?y", "http://h/data/x#frag", "s3://b?x/k", "s3://user@b/k", "s3://b\\x/k",
        "relative/path", "s3://b/a/.", "/a/b/../"}) {
    const Status s = CheckUnderPath(bad);
    EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << bad;
  }
}

TEST(PathRulesTest, RefusesControlCharactersAndShowsThemEscaped) {
  const std::string with_nul = std::string("/data/a") + '\0' + "b";
  const Status nul = CheckUnderPath(with_nul);
  EXPECT_EQ(nul.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(nul.message().find("\\x00"), std::string::npos) << nul.message();
  const Status newline = CheckUnderPath("/data/a\nforged log line");
  EXPECT_EQ(newline.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(newline.message().find('\n'), std::string::npos);
  EXPECT_EQ(CheckUnderPath("/data/\x7f").code(), StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace epochcache
