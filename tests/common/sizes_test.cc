#include "common/sizes.h"

#include <gtest/gtest.h>

namespace epochcache {
namespace {

TEST(ParseSizeTest, AcceptsPlainAndUnits) {
  EXPECT_EQ(*ParseSize("4096"), 4096U);
  EXPECT_EQ(*ParseSize("10GiB"), 10ULL << 30U);
  EXPECT_EQ(*ParseSize("10g"), 10ULL << 30U);
  EXPECT_EQ(*ParseSize("512MB"), 512'000'000U);
  EXPECT_EQ(*ParseSize("1.5 KiB"), 1536U);
  EXPECT_EQ(*ParseSize("2tib"), 2ULL << 40U);
}

TEST(ParseSizeTest, RejectsGarbageNamingTheInput) {
  auto r = ParseSize("lots");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("lots"), std::string::npos);

  auto unit = ParseSize("10 parsecs");
  ASSERT_FALSE(unit.ok());
  EXPECT_NE(unit.status().message().find("parsecs"), std::string::npos);
  EXPECT_FALSE(ParseSize("-5").ok());
  EXPECT_FALSE(ParseSize("1.2.3").ok());
}

TEST(FormatSizeTest, PicksLargestUnit) {
  EXPECT_EQ(FormatSize(17), "17 B");
  EXPECT_EQ(FormatSize(1536), "1.5 KiB");
  EXPECT_EQ(FormatSize(10ULL << 30U), "10.0 GiB");
}

}  // namespace
}  // namespace epochcache
