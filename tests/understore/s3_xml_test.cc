#include "understore/s3_xml.h"

#include <gtest/gtest.h>

namespace epochcache {
namespace {

constexpr const char* kPage = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name><Prefix>train%2F</Prefix><KeyCount>3</KeyCount>
  <IsTruncated>true</IsTruncated><NextContinuationToken>tok+1=</NextContinuationToken>
  <Contents><Key>train%2Fa+b.parquet</Key><LastModified>2024-05-01T12:34:56.789Z</LastModified>
    <ETag>&quot;abc123&quot;</ETag><Size>1048576</Size></Contents>
  <Contents><Key>train%2F%C3%A9t%C3%A9%2B.bin</Key><LastModified>2024-05-01T00:00:00Z</LastModified>
    <ETag>"def"</ETag><Size>0</Size></Contents>
  <CommonPrefixes><Prefix>train%2Fsub%2F</Prefix></CommonPrefixes>
</ListBucketResult>)";

TEST(S3XmlTest, ParsesAListingPage) {
  auto page = ParseListObjectsV2(kPage, true);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_continuation_token, "tok+1=");
  ASSERT_EQ(page->objects.size(), 2U);
  EXPECT_EQ(page->objects[0].key, "train/a b.parquet");
  EXPECT_EQ(page->objects[0].size, 1048576U);
  EXPECT_EQ(page->objects[0].etag, "abc123");
  EXPECT_EQ(page->objects[0].mtime_ns, 1714566896789000000LL);
  EXPECT_EQ(page->objects[1].key, "train/\xC3\xA9t\xC3\xA9+.bin");
  ASSERT_EQ(page->common_prefixes.size(), 1U);
  EXPECT_EQ(page->common_prefixes[0], "train/sub/");
}

// Found by the s3_xml fuzzer: a date past 2262 overflowed nanoseconds since 1970 (UB).
TEST(S3XmlTest, DatesBeyondTheNanosecondRangeAreUnknownNotOverflow) {
  constexpr std::string_view kFarFuture = R"(<ListBucketResult><IsTruncated>false</IsTruncated>
  <Contents><Key>k</Key><LastModified>4010-05-01T12:35:00.000Z</LastModified>
    <ETag>"e"</ETag><Size>1</Size></Contents></ListBucketResult>)";
  auto page = ParseListObjectsV2(kFarFuture, false);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 1U);
  EXPECT_EQ(page->objects[0].mtime_ns, 0);
}

TEST(S3XmlTest, RejectsMalformedListings) {
  EXPECT_EQ(ParseListObjectsV2("<ListBucketResult><Contents>", false).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParseListObjectsV2("not xml at all", false).ok());
  EXPECT_FALSE(ParseListObjectsV2("<Other/>", false).ok());
  EXPECT_FALSE(
      ParseListObjectsV2("<ListBucketResult><Contents><Key>k</Key><Size>x1</Size></Contents>"
                         "</ListBucketResult>",
                         false)
          .ok());
  EXPECT_FALSE(ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated>"
                                  "</ListBucketResult>",
                                  false)
                   .ok());
  EXPECT_FALSE(ParseListObjectsV2("<ListBucketResult><Contents><Key>%zz</Key><Size>1</Size>"
                                  "</Contents></ListBucketResult>",
                                  true)
                   .ok());
}

TEST(S3XmlTest, ParsesErrorsAndToleratesEmptyBodies) {
  const S3Error err = ParseS3Error(
      "<Error><Code>NoSuchKey</Code><Message>The key does not exist</Message></Error>");
  EXPECT_EQ(err.code, "NoSuchKey");
  EXPECT_EQ(err.message, "The key does not exist");
  EXPECT_EQ(ParseS3Error("").code, "");
  EXPECT_EQ(ParseS3Error("<html>").code, "");
}

}  // namespace
}  // namespace epochcache
