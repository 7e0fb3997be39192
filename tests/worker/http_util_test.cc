#include "worker/http_util.h"

#include <gtest/gtest.h>

namespace epochcache::worker {
namespace {

TEST(ParseDecimalTest, AcceptsOnlyWholeUnsignedNumbers) {
  EXPECT_EQ(ParseDecimal("0"), 0U);
  EXPECT_EQ(ParseDecimal("18446744073709551615"), UINT64_MAX);
  for (const char* bad : {"", " 1", "1 ", "+1", "-1", "1e3", "0x10", "18446744073709551616"}) {
    EXPECT_FALSE(ParseDecimal(bad)) << bad;
  }
}

TEST(ParseRangeTest, AcceptsTheThreeSingleRangeForms) {
  auto from_to = ParseRange("bytes=10-19");
  ASSERT_TRUE(from_to.ok());
  EXPECT_EQ(from_to->kind, RangeSpec::Kind::kFromTo);
  EXPECT_EQ(from_to->first, 10U);
  EXPECT_EQ(from_to->last, 19U);
  auto from = ParseRange(" bytes=5-");
  ASSERT_TRUE(from.ok());
  EXPECT_EQ(from->kind, RangeSpec::Kind::kFrom);
  EXPECT_EQ(from->first, 5U);
  auto suffix = ParseRange("bytes=-7");
  ASSERT_TRUE(suffix.ok());
  EXPECT_EQ(suffix->kind, RangeSpec::Kind::kSuffix);
  EXPECT_EQ(suffix->suffix, 7U);
}

TEST(ParseRangeTest, RejectsMalformedRanges) {
  for (const char* bad :
       {"", "bytes=", "bytes=-", "bytes=a-b", "bytes=9-2", "items=0-1", "bytes=0-1,3-4",
        "bytes=-1-2", "bytes=+1-2", "bytes=1", "bytes=zz-1", "bytes=99999999999999999999999-"}) {
    EXPECT_EQ(ParseRange(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ResolveRangeTest, ClipsToTheFile) {
  const auto resolve = [](const char* header, std::uint64_t size) {
    return ResolveRange(*ParseRange(header), size);
  };
  auto r = resolve("bytes=10-1000", 100);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->offset, 10U);
  EXPECT_EQ(r->length, 90U);
  r = resolve("bytes=0-0", 100);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->length, 1U);
  r = resolve("bytes=-1000", 100);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->offset, 0U);
  EXPECT_EQ(r->length, 100U);
  r = resolve("bytes=99-", 100);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->length, 1U);
  EXPECT_FALSE(resolve("bytes=100-", 100));
  EXPECT_FALSE(resolve("bytes=100-200", 100));
  EXPECT_FALSE(resolve("bytes=-0", 100));
  EXPECT_FALSE(resolve("bytes=0-", 0));
}

}  // namespace
}  // namespace epochcache::worker
