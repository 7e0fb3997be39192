#include "worker/http_util.h"

#include <gtest/gtest.h>

namespace epochcache::worker {
namespace {

TEST(PercentDecodeTest, DecodesEscapesAndKeepsPlus) {
  EXPECT_EQ(*PercentDecode("%2Fdata%2Fa%20b+c"), "/data/a b+c");
  EXPECT_EQ(*PercentDecode("plain"), "plain");
  EXPECT_EQ(PercentDecode("%zz").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PercentDecode("abc%2").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PercentDecode("%").status().code(), StatusCode::kInvalidArgument);
}

TEST(PercentDecodeTest, DecodesOnceAndKeepsWhatTheEscapesSay) {
  // Once: a double-encoded dot stays an escape, for the path rules to see as a literal name.
  EXPECT_EQ(*PercentDecode("/a/%252e%252e/b"), "/a/%2e%2e/b");
  EXPECT_EQ(*PercentDecode("/a/%2e%2E/b"), "/a/../b");
  // An escaped NUL is a NUL (which CheckUnderPath refuses), not the end of the string.
  const auto nul = PercentDecode("/a%00/b");
  ASSERT_TRUE(nul.ok());
  EXPECT_EQ(*nul, std::string("/a\0/b", 5));
  EXPECT_EQ(*PercentDecode("a+b%2B"), "a+b+");
}

TEST(ParseDecimalTest, AcceptsOnlyWholeUnsignedNumbers) {
  EXPECT_EQ(ParseDecimal("0"), 0U);
  EXPECT_EQ(ParseDecimal("18446744073709551615"), UINT64_MAX);
  for (const char* bad : {"", " 1", "1 ", "+1", "-1", "1e3", "0x10", "18446744073709551616"}) {
    EXPECT_FALSE(ParseDecimal(bad)) << bad;
  }
}

TEST(ParseTargetTest, SplitsPathAndParams) {
  auto target = ParseTarget("/v1/read?path=%2Fa%3Fb&version=v1&&flag&version=v2");
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(target->path, "/v1/read");
  EXPECT_EQ(target->params.at("path"), "/a?b");
  EXPECT_EQ(target->params.at("version"), "v2");  // the last one wins
  EXPECT_EQ(target->params.at("flag"), "");
  EXPECT_EQ(ParseTarget("/v1/health")->params.size(), 0U);
  EXPECT_FALSE(ParseTarget("/v1/read?path=%G0").ok());
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

TEST(HttpStatusForTest, FollowsTheApiTable) {
  EXPECT_EQ(HttpStatusFor(StatusCode::kInvalidArgument), 400U);
  EXPECT_EQ(HttpStatusFor(StatusCode::kPermissionDenied), 403U);
  EXPECT_EQ(HttpStatusFor(StatusCode::kNotFound), 404U);
  EXPECT_EQ(HttpStatusFor(StatusCode::kChanged), 409U);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInternal), 500U);
  EXPECT_EQ(HttpStatusFor(StatusCode::kIoError), 502U);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnavailable), 503U);
  EXPECT_EQ(HttpStatusFor(StatusCode::kTimeout), 504U);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnauthenticated), 401U);
  EXPECT_EQ(HttpStatusFor(StatusCode::kCancelled), 503U);
  EXPECT_EQ(HttpStatusFor(StatusCode::kRejected), 503U);
  EXPECT_EQ(HttpStatusFor(StatusCode::kChecksumError), 500U);
}

TEST(WorkerBusyTest, IsAnUnavailableWithTheProtocolPrefix) {
  const Status busy = WorkerBusy("connections at the limit (64)");
  EXPECT_EQ(busy.code(), StatusCode::kUnavailable);
  EXPECT_EQ(busy.message(), "worker busy: connections at the limit (64)");
  EXPECT_TRUE(IsWorkerBusy(busy));
  EXPECT_EQ(HttpStatusFor(busy.code()), 503U);
  EXPECT_FALSE(IsWorkerBusy(Status::Unavailable("s3 unreachable")));
  EXPECT_FALSE(IsWorkerBusy(Status::Internal("worker busy: but not unavailable")));
  EXPECT_EQ(ErrorJson(Status::Unauthenticated("missing bearer token")),
            R"({"error":"unauthenticated","message":"missing bearer token"})");
}

TEST(ErrorJsonTest, NamesTheCodeAndSurvivesInvalidUtf8) {
  EXPECT_EQ(ErrorJson(Status::NotFound("/a does not exist")),
            R"({"error":"not_found","message":"/a does not exist"})");
  const std::string json = ErrorJson(Status::NotFound("bad \xff byte"));
  EXPECT_NE(json.find("not_found"), std::string::npos);
}

}  // namespace
}  // namespace epochcache::worker
