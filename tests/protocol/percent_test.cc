#include "protocol/percent.h"

#include <gtest/gtest.h>

#include <string>

namespace epochcache::protocol {
namespace {

TEST(PercentEncodeTest, KeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(PercentEncode("aZ09-._~"), "aZ09-._~");
  EXPECT_EQ(PercentEncode("s3://b/k x&y=%"), "s3%3A%2F%2Fb%2Fk%20x%26y%3D%25");
  EXPECT_EQ(PercentEncode("a b+c%d"), "a%20b%2Bc%25d");
  EXPECT_EQ(PercentEncode("\xC3\xA9"), "%C3%A9");
  EXPECT_EQ(PercentEncode(std::string("a\0b", 3)), "a%00b");
}

TEST(PercentEncodeTest, SlashVariantIsTheSigV4Path) {
  EXPECT_EQ(PercentEncode("a/b/c", PercentKeep::kUnreservedAndSlash), "a/b/c");
  EXPECT_EQ(PercentEncode("a/b c", PercentKeep::kUnreservedAndSlash), "a/b%20c");
  EXPECT_EQ(PercentEncode("a/b", PercentKeep::kUnreserved), "a%2Fb");
}

TEST(PercentDecodeTest, DecodesEscapesOnceAndKeepsPlus) {
  EXPECT_EQ(*PercentDecode("%2Fdata%2Fa%20b+c"), "/data/a b+c");
  EXPECT_EQ(*PercentDecode("/a/%252e%252e/b"), "/a/%2e%2e/b");
  EXPECT_EQ(*PercentDecode("%2e%2E"), "..");
  EXPECT_EQ(*PercentDecode("a%00b"), std::string("a\0b", 3));
  EXPECT_EQ(*PercentDecode(""), "");
}

TEST(PercentDecodeTest, MalformedEscapesAreInvalidArgumentNamingTheText) {
  for (const char* bad : {"%", "%2", "abc%2", "%zz", "%g0", "%0g"}) {
    const auto decoded = PercentDecode(bad);
    ASSERT_FALSE(decoded.ok()) << bad;
    EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(decoded.status().message().find(bad), std::string::npos)
        << decoded.status().message();
  }
}

TEST(PercentCodingTest, EveryByteRoundTrips) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  for (const auto keep : {PercentKeep::kUnreserved, PercentKeep::kUnreservedAndSlash}) {
    const std::string encoded = PercentEncode(all, keep);
    for (const char c : encoded) {
      const auto u = static_cast<unsigned char>(c);
      EXPECT_TRUE(u > 0x20 && u < 0x7f) << "unprintable byte " << int{u} << " in the encoding";
    }
    auto decoded = PercentDecode(encoded);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(*decoded, all);
  }
}

}  // namespace
}  // namespace epochcache::protocol
