#include "epochcache/status.h"

#include <gtest/gtest.h>

namespace epochcache {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  EC_ASSIGN_OR_RETURN(int h, Half(x));
  EC_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(StatusTest, CodesRoundTripThroughNames) {
  for (auto code : {StatusCode::kNotFound, StatusCode::kTimeout, StatusCode::kChecksumError,
                    StatusCode::kChanged, StatusCode::kUnauthenticated, StatusCode::kCancelled}) {
    EXPECT_EQ(StatusCodeFromName(StatusCodeName(code)), code);
  }
  EXPECT_EQ(StatusCodeFromName("no such code"), StatusCode::kInternal);
}

TEST(StatusTest, ContextPrefixesMessage) {
  const Status s = Status::NotFound("x.parquet").WithContext("worker 127.0.0.1:1");
  EXPECT_EQ(s.ToString(), "not_found: worker 127.0.0.1:1: x.parquet");
  EXPECT_TRUE(Status::Ok().WithContext("ignored").ok());
}

TEST(ResultTest, AssignOrReturnPropagates) {
  EXPECT_EQ(*Quarter(12), 3);
  EXPECT_EQ(Quarter(6).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Quarter(7).status().message(), "odd");
}

}  // namespace
}  // namespace epochcache
