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

}  // namespace
}  // namespace epochcache
