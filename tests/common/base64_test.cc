#include "common/base64.h"

#include <gtest/gtest.h>

namespace epochcache {
namespace {

TEST(Base64Test, RoundTripsWithPadding) {
  for (const std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "/ec/w/\xff\x00"}) {
    const std::string enc = Base64Encode(s);
    auto dec = Base64Decode(enc);
    ASSERT_TRUE(dec.ok()) << enc;
    EXPECT_EQ(*dec, s);
  }
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_FALSE(Base64Decode("abc").ok());
  EXPECT_FALSE(Base64Decode("ab!=").ok());
}

TEST(Base64Test, RefusesNonCanonicalText) {
  // OpenSSL's block decoder alone accepts all of these.
  for (const std::string_view bad : {"====", "a===", "=L2E", "L2E=L2E=", "YQ=a", "YR=="}) {
    EXPECT_EQ(Base64Decode(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(*Base64Decode("YQ=="), "a");
}

}  // namespace
}  // namespace epochcache
