#include "protocol/status_http.h"

#include <gtest/gtest.h>

#include <map>

namespace epochcache::protocol {
namespace {

// Every StatusCode, by hand: a code added to status.h without a row here fails the last test.
constexpr StatusCode kAllCodes[] = {
    StatusCode::kOk,
    StatusCode::kNotFound,
    StatusCode::kInvalidArgument,
    StatusCode::kPermissionDenied,
    StatusCode::kTimeout,
    StatusCode::kUnavailable,
    StatusCode::kIoError,
    StatusCode::kChecksumError,
    StatusCode::kRejected,
    StatusCode::kChanged,
    StatusCode::kInternal,
    StatusCode::kUnauthenticated,
    StatusCode::kCancelled,
};

// The documented equivalents (status_http.h): what a shared HTTP status reads back as.
const std::map<StatusCode, StatusCode> kEquivalent = {
    {StatusCode::kRejected, StatusCode::kUnavailable},
    {StatusCode::kCancelled, StatusCode::kUnavailable},
    {StatusCode::kChecksumError, StatusCode::kInternal},
};

TEST(StatusHttpTest, EveryCodeMapsToAnHttpStatusAndBackToItselfOrItsEquivalent) {
  for (const StatusCode code : kAllCodes) {
    const unsigned http = HttpStatusFor(code);
    EXPECT_TRUE(http == 200 || (http >= 400 && http < 600)) << StatusCodeName(code);
    const auto equivalent = kEquivalent.find(code);
    const StatusCode expected = equivalent == kEquivalent.end() ? code : equivalent->second;
    EXPECT_EQ(StatusCodeForHttp(http), expected) << StatusCodeName(code) << " -> " << http << " -> "
                                                 << StatusCodeName(StatusCodeForHttp(http));
  }
}

TEST(StatusHttpTest, TheStatusesOfDocsApiMd) {
  EXPECT_EQ(HttpStatusFor(StatusCode::kInvalidArgument), 400U);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnauthenticated), 401U);
  EXPECT_EQ(HttpStatusFor(StatusCode::kPermissionDenied), 403U);
  EXPECT_EQ(HttpStatusFor(StatusCode::kNotFound), 404U);
  EXPECT_EQ(HttpStatusFor(StatusCode::kChanged), 409U);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInternal), 500U);
  EXPECT_EQ(HttpStatusFor(StatusCode::kIoError), 502U);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnavailable), 503U);
  EXPECT_EQ(HttpStatusFor(StatusCode::kCancelled), 503U);
  EXPECT_EQ(HttpStatusFor(StatusCode::kTimeout), 504U);
}

TEST(StatusHttpTest, StatusesOutsideTheTable) {
  EXPECT_EQ(StatusCodeForHttp(416), StatusCode::kChanged);
  EXPECT_EQ(StatusCodeForHttp(418), StatusCode::kIoError);
  EXPECT_EQ(StatusCodeForHttp(507), StatusCode::kIoError);
}

TEST(StatusHttpTest, WorkerBusyIsRecognised) {
  const Status busy = WorkerBusy("connections at the limit (4)");
  EXPECT_EQ(busy.code(), StatusCode::kUnavailable);
  EXPECT_EQ(busy.message(), "worker busy: connections at the limit (4)");
  EXPECT_TRUE(IsWorkerBusy(busy));
  EXPECT_FALSE(IsWorkerBusy(Status::Unavailable("under store unreachable")));
  EXPECT_FALSE(IsWorkerBusy(Status::Internal("worker busy: not really")));
}

TEST(StatusHttpTest, TheListOfCodesIsComplete) {
  // kCancelled is the last enumerator of StatusCode.
  EXPECT_EQ(static_cast<int>(StatusCode::kCancelled) + 1, static_cast<int>(std::size(kAllCodes)));
}

}  // namespace
}  // namespace epochcache::protocol
