#include "protocol/target.h"

#include <gtest/gtest.h>

#include "protocol/wire.h"

namespace epochcache::protocol {
namespace {

TEST(TargetTest, BuildEncodesEveryNameAndValue) {
  EXPECT_EQ(BuildTarget(kStatPath, {}), "/v1/stat");
  EXPECT_EQ(BuildTarget(kReadPath, {{kPathParam, "/a b/c&d"}, {kVersionParam, "1+2"}}),
            "/v1/read?path=%2Fa%20b%2Fc%26d&version=1%2B2");
}

TEST(TargetTest, ParseDecodesEachParameterOnce) {
  auto target = ParseTarget("/v1/read?path=%2Fa%252e&version=3&flag&&path=%2Fb");
  ASSERT_TRUE(target.ok()) << target.status().ToString();
  EXPECT_EQ(target->path, "/v1/read");
  EXPECT_EQ(target->params.at("path"), "/b");  // the last of a repeated parameter
  EXPECT_EQ(target->params.at("version"), "3");
  EXPECT_EQ(target->params.at("flag"), "");
  EXPECT_EQ(ParseTarget("/v1/stat?path=%2").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseTarget("/v1/health")->params.size(), 0U);
}

TEST(TargetTest, WhatIsBuiltParsesBackToTheSameParameters) {
  const std::string awkward = "s3://bucket/a b/%2e%2e/\xC3\xA9?#&=+\x01";
  const auto built = BuildTarget(
      kListPath,
      {{kPathParam, awkward}, {kRecursiveParam, "1"}, {kStartAfterParam, awkward + "x"}});
  auto parsed = ParseTarget(built);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->path, kListPath);
  EXPECT_EQ(parsed->params.at("path"), awkward);
  EXPECT_EQ(parsed->params.at("recursive"), "1");
  EXPECT_EQ(parsed->params.at("start_after"), awkward + "x");
}

}  // namespace
}  // namespace epochcache::protocol
