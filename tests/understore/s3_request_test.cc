#include "understore/s3_request.h"

#include <gtest/gtest.h>

#include "common/curl_http.h"

namespace epochcache {
namespace {

TEST(S3UriTest, ParsesBucketAndKey) {
  auto loc = ParseS3Uri("s3://bucket/a/b c/d.parquet");
  ASSERT_TRUE(loc.ok());
  EXPECT_EQ(loc->bucket, "bucket");
  EXPECT_EQ(loc->key, "a/b c/d.parquet");
  EXPECT_EQ(ParseS3Uri("s3://bucket")->key, "");
  EXPECT_EQ(ParseS3Uri("s3a://b/k")->bucket, "b");
  EXPECT_EQ(ParseS3Uri("s3:///key").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseS3Uri("/local/path").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(S3Uri({"b", "k/x"}), "s3://b/k/x");
}

TEST(AwsUriEncodeTest, EncodesLikeSigV4) {
  // Unreserved characters pass; space, '+', '%', non-ASCII (UTF-8 bytes) are escaped.
  EXPECT_EQ(AwsUriEncode("a-b_c.d~e", false), "a-b_c.d~e");
  EXPECT_EQ(AwsUriEncode("a b+c%d", false), "a%20b%2Bc%25d");
  EXPECT_EQ(AwsUriEncode("d\xC3\xA9j\xC3\xA0", false), "d%C3%A9j%C3%A0");
  EXPECT_EQ(AwsUriEncode("a/b/c", true), "a/b/c");
  EXPECT_EQ(AwsUriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(*PercentDecode("a%20b%2Bc%25d%C3%A9"), "a b+c%d\xC3\xA9");
  EXPECT_FALSE(PercentDecode("bad%2").ok());
  EXPECT_FALSE(PercentDecode("bad%zz").ok());
}

TEST(CanonicalQueryTest, SortsAndEncodesParameters) {
  // SigV4 sorts by encoded name; values encode '/' and '=' too.
  EXPECT_EQ(CanonicalQuery({{"prefix", "dir/sub dir/"},
                            {"list-type", "2"},
                            {"delimiter", "/"},
                            {"continuation-token", "ab+c=="}}),
            "continuation-token=ab%2Bc%3D%3D&delimiter=%2F&list-type=2&prefix=dir%2Fsub%20dir%2F");
}

TEST(S3UrlBuilderTest, PathAndVirtualHostedStyles) {
  const S3UrlBuilder path("http://127.0.0.1:9000", true);
  EXPECT_EQ(path.Url({"b", "deep/a b/%+.txt"}), "http://127.0.0.1:9000/b/deep/a%20b/%25%2B.txt");
  EXPECT_EQ(path.Url({"b", ""}, {{"list-type", "2"}}), "http://127.0.0.1:9000/b/?list-type=2");
  const S3UrlBuilder virt("https://s3.eu-west-1.amazonaws.com", false);
  EXPECT_EQ(virt.Url({"b", "k"}), "https://b.s3.eu-west-1.amazonaws.com/k");
}

}  // namespace
}  // namespace epochcache
