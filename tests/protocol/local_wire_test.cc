#include "protocol/local_wire.h"

#include <gtest/gtest.h>

#include <string>

namespace epochcache::protocol {
namespace {

FileStatus StatusOf(std::uint64_t size, std::string version) {
  return {.path = "s3://bucket/a b/ü.parquet",
          .is_directory = false,
          .size = size,
          .mtime_ns = 1700000000123456789,
          .version = std::move(version)};
}

TEST(LocalWireTest, MessagesRoundTrip) {
  auto hello = DecodeLocalHello(EncodeLocalHello({.token = "s3cret"}));
  ASSERT_TRUE(hello.ok()) << hello.status().ToString();
  EXPECT_EQ(hello->token, "s3cret");

  auto accepted = DecodeLocalHelloAnswer(
      EncodeLocalHelloAnswer({.accepted = true, .address = "10.0.0.1:7411", .keep_ms = 10000}));
  ASSERT_TRUE(accepted.ok());
  EXPECT_TRUE(accepted->accepted);
  EXPECT_EQ(accepted->keep_ms, 10000U);
  EXPECT_EQ(accepted->address, "10.0.0.1:7411");
  auto refused = DecodeLocalHelloAnswer(EncodeLocalHelloAnswer(
      {.accepted = false, .address = "", .keep_ms = 0, .reason = "no token"}));
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused->accepted);
  EXPECT_EQ(refused->reason, "no token");

  const LocalRead read{.path = "/bucket/a b/ü.parquet",
                       .version = "\"etag\"",
                       .offset = 1ULL << 40,
                       .length = 65536};
  auto back = DecodeLocalRead(EncodeLocalRead(read));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->path, read.path);
  EXPECT_EQ(back->version, read.version);
  EXPECT_EQ(back->offset, read.offset);
  EXPECT_EQ(back->length, read.length);

  LocalReadAnswer hit{
      .hit = true, .status = StatusOf(5, "v1"), .segments = {{0, 64, 3}, {3, 128, 2}}};
  auto hit_back = DecodeLocalReadAnswer(EncodeLocalReadAnswer(hit));
  ASSERT_TRUE(hit_back.ok());
  EXPECT_TRUE(hit_back->hit);
  ASSERT_TRUE(hit_back->status.has_value());
  EXPECT_EQ(*hit_back->status, StatusOf(5, "v1"));
  ASSERT_EQ(hit_back->segments.size(), 2U);
  EXPECT_EQ(hit_back->segments[1].object_offset, 3U);
  EXPECT_EQ(hit_back->segments[1].file_offset, 128U);
  EXPECT_EQ(hit_back->segments[1].length, 2U);
  auto decline = DecodeLocalReadAnswer(EncodeLocalReadAnswer({.reason = "not cached"}));
  ASSERT_TRUE(decline.ok());
  EXPECT_FALSE(decline->hit);
  EXPECT_EQ(decline->reason, "not cached");
  EXPECT_FALSE(decline->status.has_value());

  // A decline tells the status when the worker has it: a directory, here.
  FileStatus dir{
      .path = "s3://bucket/d", .is_directory = true, .size = 0, .mtime_ns = -1, .version = ""};
  auto told = DecodeLocalReadAnswer(
      EncodeLocalReadAnswer({.hit = false, .status = dir, .reason = "a directory"}));
  ASSERT_TRUE(told.ok()) << told.status().ToString();
  EXPECT_FALSE(told->hit);
  EXPECT_EQ(told->reason, "a directory");
  ASSERT_TRUE(told->status.has_value());
  EXPECT_EQ(*told->status, dir);
}

TEST(LocalWireTest, TheLongestStatusWithTheLongestReasonOrEverySegmentFitsOneMessage) {
  const FileStatus longest{.path = std::string(kMaxLocalPath, 'p'),
                           .is_directory = false,
                           .size = ~0ULL,
                           .mtime_ns = 1,
                           .version = std::string(kMaxLocalVersion, 'v')};
  LocalReadAnswer hit{.hit = true, .status = longest, .segments = {}};
  hit.segments.resize(kMaxLocalSegments, {0, 0, 1});
  const std::string hit_bytes = EncodeLocalReadAnswer(hit);
  EXPECT_LE(hit_bytes.size(), kMaxLocalMessage);
  EXPECT_TRUE(DecodeLocalReadAnswer(hit_bytes).ok());
  const std::string decline_bytes = EncodeLocalReadAnswer(
      {.hit = false, .status = longest, .reason = std::string(kMaxLocalPath, 'r')});
  EXPECT_LE(decline_bytes.size(), kMaxLocalMessage);
  EXPECT_TRUE(DecodeLocalReadAnswer(decline_bytes).ok());
}

TEST(LocalWireTest, EveryTruncationAndAnyTrailingByteIsRefused) {
  const std::string read =
      EncodeLocalRead({.path = "/p", .version = "v", .offset = 1, .length = 2});
  for (std::size_t n = 0; n < read.size(); ++n) {
    EXPECT_FALSE(DecodeLocalRead(read.substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(DecodeLocalRead(read + "x").ok());
  for (const std::string& answer :
       {EncodeLocalReadAnswer({.hit = true, .status = StatusOf(1, "v"), .segments = {{0, 0, 1}}}),
        EncodeLocalReadAnswer({.hit = false, .status = StatusOf(1, "v"), .reason = "r"}),
        EncodeLocalReadAnswer({.hit = false, .reason = "r"})}) {
    for (std::size_t n = 0; n < answer.size(); ++n) {
      EXPECT_FALSE(DecodeLocalReadAnswer(answer.substr(0, n)).ok()) << n;
    }
    EXPECT_FALSE(DecodeLocalReadAnswer(answer + '\0').ok());
  }
}

TEST(LocalWireTest, HeadersOfOtherProtocolsVersionsAndTypesAreNamed) {
  std::string read = EncodeLocalRead({.path = "/p", .version = "", .offset = 0, .length = 1});
  auto ok = PeekLocalMessage(read);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, LocalMessageType::kRead);

  std::string http = "GET /v1/read HTTP/1.1\r\n\r\n";
  EXPECT_NE(PeekLocalMessage(http).status().message().find("not a message of this protocol"),
            std::string::npos);
  std::string other_version = read;
  other_version[4] = 1;  // a client or worker of the first version
  EXPECT_NE(PeekLocalMessage(other_version).status().message().find("version 1"),
            std::string::npos);
  std::string unknown = read;
  unknown[5] = 9;
  EXPECT_NE(PeekLocalMessage(unknown).status().message().find("unknown message type 9"),
            std::string::npos);
  // A read is not a hello, whatever its bytes say after the header.
  EXPECT_NE(DecodeLocalHello(read).status().message().find("expected a hello"), std::string::npos);
  EXPECT_FALSE(PeekLocalMessage(std::string(kMaxLocalMessage + 1, 'E')).ok());
}

TEST(LocalWireTest, LimitsAreEnforcedOnDecode) {
  const std::string long_path(kMaxLocalPath + 1, 'a');
  EXPECT_FALSE(
      DecodeLocalRead(EncodeLocalRead({.path = long_path, .version = "", .offset = 0, .length = 1}))
          .ok());
  EXPECT_FALSE(
      DecodeLocalHello(EncodeLocalHello({.token = std::string(kMaxLocalToken + 1, 't')})).ok());
  LocalReadAnswer many{.hit = true, .status = StatusOf(1, "v"), .segments = {}};
  many.segments.resize(kMaxLocalSegments + 1, {0, 0, 1});
  EXPECT_FALSE(DecodeLocalReadAnswer(EncodeLocalReadAnswer(many)).ok());
  many.segments.resize(kMaxLocalSegments);
  EXPECT_TRUE(DecodeLocalReadAnswer(EncodeLocalReadAnswer(many)).ok());
  // A flag byte other than 0 or 1: hit, has-status, directory.
  std::string answer = EncodeLocalReadAnswer({.reason = "x"});
  answer[6] = 2;
  EXPECT_FALSE(DecodeLocalReadAnswer(answer).ok());
  answer = EncodeLocalReadAnswer({.reason = "x"});
  answer[10] = 2;  // after the header (6), hit (1) and the reason (2 + 1)
  EXPECT_FALSE(DecodeLocalReadAnswer(answer).ok());
  answer = EncodeLocalReadAnswer({.hit = false, .status = StatusOf(1, "v"), .reason = "x"});
  answer[10 + 1 + 2 + StatusOf(1, "v").path.size()] = 2;
  EXPECT_FALSE(DecodeLocalReadAnswer(answer).ok());
  answer[10 + 1 + 2 + StatusOf(1, "v").path.size()] = 1;
  EXPECT_TRUE(DecodeLocalReadAnswer(answer).ok());
}

}  // namespace
}  // namespace epochcache::protocol
