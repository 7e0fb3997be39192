// Retries of remote requests, stepped through on a ManualClock: the back-off schedule, the
// attempt budget and the deadline are checked without waiting any of them out.
#include "understore/retrying_http.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>

#include "scripted_http_server.h"
#include "support/manual_clock.h"

namespace epochcache {
namespace {

using std::chrono::milliseconds;
using testing::ManualClock;
using testing::ScriptedHttpServer;

Status Busy(const HttpResponse& r) {
  return Status::Unavailable("busy: HTTP " + std::to_string(r.status));
}

class RetryingHttpTest : public ::testing::Test {
 protected:
  // Runs PerformWithRetries against `server` on another thread, on the manual clock.
  std::future<Result<HttpResponse>> PerformAsync(const ScriptedHttpServer& server,
                                                 const UnderStoreOptions& options) {
    request_.url = server.endpoint() + "/x";
    return std::async(std::launch::async, [this, options] {
      return PerformWithRetries(http_, request_, options, request_.url, Busy, &retries_, clock_);
    });
  }

  CurlHttp http_;
  HttpRequest request_;
  ManualClock clock_;
  std::atomic<std::uint64_t> retries_{0};
};

TEST_F(RetryingHttpTest, BacksOffExponentiallyWithJitterUntilAnAnswer) {
  ScriptedHttpServer server(
      {ScriptedHttpServer::Response(503, "a"), ScriptedHttpServer::Response(503, "b"),
       ScriptedHttpServer::Response(429, "c"), ScriptedHttpServer::Response(500, "d"),
       ScriptedHttpServer::Response(200, "done")});
  UnderStoreOptions options;
  options.max_attempts = 5;
  auto result = PerformAsync(server, options);
  // Full jitter: the wait before attempt n+1 lies in [0, 100 ms * 2^(n-1)].
  for (std::size_t n = 1; n <= 4; ++n) {
    const auto wait = clock_.AwaitSleeps(n);
    EXPECT_LE(wait, milliseconds(100) * (1 << (n - 1))) << "wait " << n;
    EXPECT_GE(wait, milliseconds(0));
    if (wait > milliseconds(0)) {  // a zero wait (jitter may pick it) does not hold anything
      EXPECT_EQ(server.requests().size(), n) << "no attempt may start before its wait ends";
    }
    clock_.Advance(wait);
  }
  auto response = result.get();
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "done");
  EXPECT_EQ(retries_.load(), 4U);
  EXPECT_EQ(clock_.sleeps().size(), 4U);
}

TEST_F(RetryingHttpTest, StopsWhenAttemptsRunOutAndSaysHowMany) {
  ScriptedHttpServer server(
      {ScriptedHttpServer::Response(503, "a"), ScriptedHttpServer::Response(503, "b"),
       ScriptedHttpServer::Response(503, "c"), ScriptedHttpServer::Response(200, "never reached")});
  UnderStoreOptions options;
  options.max_attempts = 3;
  auto result = PerformAsync(server, options);
  for (std::size_t n = 1; n <= 2; ++n) clock_.Advance(clock_.AwaitSleeps(n));
  auto response = result.get();
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable) << response.status().ToString();
  EXPECT_NE(response.status().message().find("busy: HTTP 503 (after 3 attempts)"),
            std::string::npos)
      << response.status().ToString();
  EXPECT_EQ(server.requests().size(), 3U);
  EXPECT_EQ(retries_.load(), 2U);
}

TEST_F(RetryingHttpTest, TheDeadlineIsKeptOnTheInjectedClock) {
  ScriptedHttpServer server({ScriptedHttpServer::Response(503, "busy")});  // every time
  UnderStoreOptions options;
  options.max_attempts = 100;
  options.operation_deadline = milliseconds(1000);
  auto result = PerformAsync(server, options);
  // The first wait runs far past the deadline on the clock (not in real time): the next
  // failure ends the operation instead of waiting again. Were the deadline kept in real time,
  // the next wait would never end (nothing advances the clock again) and the test would hang.
  clock_.Advance(clock_.AwaitSleeps(1) + std::chrono::seconds(5));
  auto response = result.get();
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable) << response.status().ToString();
  // Two attempts, or three when jitter made the first wait zero and the second began before
  // the clock moved.
  const std::size_t attempts = server.requests().size();
  EXPECT_GE(attempts, 2U);
  EXPECT_LE(attempts, 3U);
  EXPECT_EQ(clock_.sleeps().size(), attempts - 1);
  EXPECT_NE(response.status().message().find(fmt::format("(after {} attempts)", attempts)),
            std::string::npos)
      << response.status().ToString();
}

TEST_F(RetryingHttpTest, AnAnswerThatIsNotTransientIsReturnedAtOnce) {
  ScriptedHttpServer server({ScriptedHttpServer::Response(404, "gone")});
  auto response = PerformAsync(server, {}).get();
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 404);
  EXPECT_TRUE(clock_.sleeps().empty());
  EXPECT_EQ(retries_.load(), 0U);
}

}  // namespace
}  // namespace epochcache
