// Unit tests of the client's parts, without sockets: the walk through the workers for a key,
// the breakers and the metadata cache on a manual clock, the parsers of worker answers, the
// changed-retry policy and the direct-read task pool.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "client/breaker.h"
#include "client/changed_retry.h"
#include "client/content_range.h"
#include "client/placement_view.h"
#include "client/task_pool.h"
#include "client/worker_answers.h"
#include "client/worker_attempts.h"
#include "epochcache/placement.h"
#include "support/manual_clock.h"

namespace epochcache::client {
namespace {

using namespace std::chrono_literals;
using epochcache::testing::ManualClock;

// Drains a walk: the workers it hands out, each reported with `outcome`.
std::vector<std::string> Walk(WorkerAttempts& attempts, Outcome outcome = Outcome::kUnreachable) {
  std::vector<std::string> out;
  while (auto host = attempts.Next()) {
    attempts.Report(*host, outcome);
    attempts.Failed(Status::Unavailable("worker " + *host + " failed"));
    out.push_back(*host);
  }
  return out;
}

WorkerAttempts AttemptsOver(std::vector<std::string> hosts, CircuitBreakers& breakers,
                            bool can_fall_back, std::atomic<std::uint64_t>* failovers = nullptr) {
  return {std::move(hosts), breakers, can_fall_back, "/f", Status::Unavailable("none"), failovers};
}

TEST(WorkerAttemptsTest, OwnerFirstThenSuccessorsInRankOrder) {
  PlacementView view(MakeStaticView({"h1:1", "h2:2", "h3:3", "h4:4"}));
  const auto topology = view.Current();
  const auto placement =
      MakePlacement(PlacementAlgorithm::kRendezvous, {"h1:1", "h2:2", "h3:3", "h4:4"});
  for (const std::string key : {"/a#0", "/b#0", "/c#7"}) {
    std::vector<std::string> ranked;
    for (std::size_t i : placement->Rank(key, 3)) ranked.push_back(topology->workers[i].address);
    ASSERT_EQ(topology->Candidates(key, 3), ranked) << key;
    ManualClock clock;
    CircuitBreakers breakers(1s, 8s, clock);
    std::atomic<std::uint64_t> failovers{0};
    auto attempts = AttemptsOver(topology->Candidates(key, 3), breakers, true, &failovers);
    EXPECT_EQ(Walk(attempts), ranked) << key;
    EXPECT_EQ(attempts.attempts(), 3U);
    EXPECT_EQ(failovers.load(), 2U);  // every attempt after the first
  }
}

TEST(WorkerAttemptsTest, SkipsOpenBreakersUntilTheBackoffIsOver) {
  ManualClock clock;
  CircuitBreakers breakers(1s, 8s, clock);
  breakers.Failure("b:2");
  auto first = AttemptsOver({"a:1", "b:2", "c:3"}, breakers, true);
  EXPECT_EQ(Walk(first, Outcome::kAnswered), (std::vector<std::string>{"a:1", "c:3"}));
  EXPECT_EQ(breakers.skips(), 1U);
  clock.Advance(999ms);
  auto second = AttemptsOver({"b:2", "a:1"}, breakers, true);
  EXPECT_EQ(Walk(second, Outcome::kAnswered), (std::vector<std::string>{"a:1"}));
  clock.Advance(1ms);
  // The backoff is over: b is let through as the probe.
  auto third = AttemptsOver({"b:2", "a:1"}, breakers, true);
  ASSERT_EQ(third.Next(), "b:2");
  third.Report("b:2", Outcome::kAnswered);
  EXPECT_FALSE(breakers.IsOpen("b:2"));
}

TEST(WorkerAttemptsTest, FallsBackWhenTheWorkersAreExhausted) {
  ManualClock clock;
  CircuitBreakers breakers(1s, 8s, clock);
  auto attempts = AttemptsOver({"a:1", "b:2"}, breakers, /*can_fall_back=*/true);
  EXPECT_EQ(Walk(attempts).size(), 2U);
  EXPECT_TRUE(attempts.FallBack());
  EXPECT_EQ(attempts.error().message(), "worker b:2 failed");  // the last failure
}

// A final answer (a 4xx, a worker failing TLS verification) stops the walk before the workers
// run out: that is never a reason to read the under store instead.
TEST(WorkerAttemptsTest, NoFallBackBeforeTheWorkersRunOut) {
  ManualClock clock;
  CircuitBreakers breakers(1s, 8s, clock);
  auto attempts = AttemptsOver({"a:1", "b:2"}, breakers, /*can_fall_back=*/true);
  ASSERT_EQ(attempts.Next(), "a:1");
  EXPECT_FALSE(attempts.FallBack());
  ASSERT_EQ(attempts.Next(), "b:2");
  EXPECT_FALSE(attempts.FallBack());
  EXPECT_EQ(attempts.Next(), std::nullopt);
  EXPECT_TRUE(attempts.FallBack());
}

TEST(WorkerAttemptsTest, AllSkippedWithAnUnderStoreGoesStraightToIt) {
  ManualClock clock;
  CircuitBreakers breakers(1s, 8s, clock);
  breakers.Failure("a:1");
  breakers.Failure("b:2");
  auto attempts = AttemptsOver({"a:1", "b:2"}, breakers, /*can_fall_back=*/true);
  EXPECT_EQ(attempts.Next(), std::nullopt);
  EXPECT_TRUE(attempts.FallBack());
  EXPECT_EQ(attempts.attempts(), 0U);
  EXPECT_EQ(attempts.error().code(), StatusCode::kUnavailable);
  EXPECT_NE(attempts.error().message().find("a:1 is skipped after recent failures"),
            std::string::npos);
}

TEST(WorkerAttemptsTest, AllSkippedWithoutAnUnderStoreAsksThemAnyway) {
  ManualClock clock;
  CircuitBreakers breakers(1s, 8s, clock);
  breakers.Failure("a:1");
  breakers.Failure("b:2");
  auto attempts = AttemptsOver({"a:1", "b:2"}, breakers, /*can_fall_back=*/false);
  // The forced pass, in order, once.
  EXPECT_EQ(Walk(attempts), (std::vector<std::string>{"a:1", "b:2"}));
  EXPECT_FALSE(attempts.FallBack());
}

TEST(WorkerAttemptsTest, NoForcedPassOnceAWorkerWasAsked) {
  ManualClock clock;
  CircuitBreakers breakers(1s, 8s, clock);
  breakers.Failure("b:2");
  auto attempts = AttemptsOver({"a:1", "b:2"}, breakers, /*can_fall_back=*/false);
  EXPECT_EQ(Walk(attempts), (std::vector<std::string>{"a:1"}));
}

TEST(WorkerAttemptsTest, NoCandidatesIsTheNoWorkersError) {
  ManualClock clock;
  CircuitBreakers breakers(1s, 8s, clock);
  auto attempts = AttemptsOver({}, breakers, /*can_fall_back=*/false);
  EXPECT_EQ(attempts.Next(), std::nullopt);
  EXPECT_EQ(attempts.error().message(), "none");
}

TEST(WorkerAttemptsTest, ANotSentRequestGivesBackTheProbe) {
  ManualClock clock;
  CircuitBreakers breakers(1s, 8s, clock);
  breakers.Failure("a:1");
  clock.Advance(1s);
  auto probe = AttemptsOver({"a:1"}, breakers, true);
  ASSERT_EQ(probe.Next(), "a:1");
  // While the probe is out, nobody else gets through.
  EXPECT_FALSE(breakers.Allow("a:1"));
  probe.Report("a:1", Outcome::kNotSent);
  EXPECT_TRUE(breakers.Allow("a:1"));
}

TEST(CircuitBreakersTest, FailedProbesDoubleTheBackoffUpToTheMaximum) {
  ManualClock clock;
  CircuitBreakers breakers(1s, 3s, clock);
  breakers.Failure("w");
  clock.Advance(1s);
  for (const auto backoff : {2s, 3s, 3s}) {
    ASSERT_TRUE(breakers.Allow("w"));  // the probe
    breakers.Failure("w");
    clock.Advance(backoff - 1ms);
    EXPECT_TRUE(breakers.IsOpen("w"));
    EXPECT_FALSE(breakers.Allow("w"));
    clock.Advance(1ms);
    EXPECT_FALSE(breakers.IsOpen("w"));
  }
  EXPECT_EQ(breakers.opens(), 4U);
}

TEST(CircuitBreakersTest, FailuresInFlightWhenItOpenedDoNotExtendIt) {
  ManualClock clock;
  CircuitBreakers breakers(1s, 30s, clock);
  breakers.Failure("w");
  clock.Advance(600ms);
  breakers.Failure("w");  // sent before the breaker opened
  EXPECT_EQ(breakers.opens(), 1U);
  clock.Advance(400ms);
  EXPECT_TRUE(breakers.Allow("w"));
  breakers.Success("w");
  EXPECT_FALSE(breakers.IsOpen("w"));
}

TEST(ContentRangeTest, Parses) {
  auto r = ParseContentRange("bytes 10-19/100");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->first, 10U);
  EXPECT_EQ(r->last, 19U);
  EXPECT_EQ(r->size, 100U);
  EXPECT_FALSE(ParseContentRange("bytes */100"));
  EXPECT_FALSE(ParseContentRange("bytes x-y/z"));
  EXPECT_FALSE(ParseContentRange("bytes 1-2/99999999999999999999999"));
  EXPECT_FALSE(ParseContentRange("bytes 1-2/3 "));
  EXPECT_FALSE(ParseContentRange("items 1-2/3"));
  EXPECT_FALSE(ParseContentRange(""));
}

TEST(WorkerAnswersTest, ErrorBodiesAndBareStatuses) {
  Status s = ErrorFromAnswer(404, R"({"error":"not_found","message":"/f does not exist"})", "h:1",
                             "/f", false);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "/f does not exist");
  s = ErrorFromAnswer(502, "<html>bad gateway</html>", "h:1", "/f", false);
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_NE(s.message().find("worker h:1 answered HTTP 502: <html>"), std::string::npos);
  EXPECT_EQ(ErrorFromAnswer(416, "", "h:1", "/f", false).code(), StatusCode::kChanged);
  s = ErrorFromAnswer(401, R"({"error":"unauthenticated","message":"no"})", "h:1", "/f", true);
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
  EXPECT_NE(s.message().find("the auth token given was not accepted"), std::string::npos);
  // An unknown error name is still an error.
  EXPECT_EQ(ErrorFromAnswer(500, R"({"error":"weird"})", "h", "/f", false).code(),
            StatusCode::kInternal);
}

TEST(ChangedRetryTest, ForgetsAndRetriesWithinOneBudget) {
  int calls = 0;
  int forgets = 0;
  auto always_changed = RetryWhileChanged(
      "/f",
      [&]() -> Result<int> {
        ++calls;
        return Status::Changed("moved");
      },
      [&] { ++forgets; });
  EXPECT_EQ(always_changed.status().code(), StatusCode::kChanged);
  EXPECT_EQ(calls, kMaxChangedAttempts);
  EXPECT_EQ(forgets, kMaxChangedAttempts);
  EXPECT_NE(always_changed.status().message().find("kept changing"), std::string::npos);

  calls = 0;
  auto second_time = RetryWhileChanged(
      "/f", [&]() -> Result<int> { return ++calls == 1 ? Result<int>(Status::Changed("x")) : 7; },
      [] {});
  EXPECT_EQ(*second_time, 7);
  calls = 0;
  auto other_error = RetryWhileChanged(
      "/f",
      [&]() -> Result<int> {
        ++calls;
        return Status::NotFound("gone");
      },
      [] {});
  EXPECT_EQ(other_error.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(calls, 1);
}

TEST(TaskPoolTest, RunsEveryTaskOnAtMostItsThreads) {
  TaskPool pool(3);
  std::mutex mu;
  std::set<std::thread::id> threads;
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  std::vector<int> done(50, 0);
  pool.RunAll(done.size(), [&](std::size_t i) {
    const int now = ++running;
    for (int seen = most; now > seen && !most.compare_exchange_weak(seen, now);) {
    }
    {
      std::lock_guard lock(mu);
      threads.insert(std::this_thread::get_id());
    }
    done[i] += 1;
    --running;
  });
  EXPECT_EQ(std::count(done.begin(), done.end(), 1), 50);
  EXPECT_LE(threads.size(), 3U);
  EXPECT_LE(most.load(), 3);
  EXPECT_FALSE(threads.contains(std::this_thread::get_id()));
  // The same threads serve the next call: none are spawned per call.
  std::set<std::thread::id> again;
  pool.RunAll(10, [&](std::size_t) {
    std::lock_guard lock(mu);
    again.insert(std::this_thread::get_id());
  });
  for (const auto& id : again) EXPECT_TRUE(threads.contains(id) || threads.size() < 3);
}

TEST(TaskPoolTest, TasksRunInParallel) {
  // Three tasks that each wait for all three to have started: they finish only if they run at
  // once.
  TaskPool pool(3);
  std::mutex mu;
  std::condition_variable cv;
  int started = 0;
  pool.RunAll(3, [&](std::size_t) {
    std::unique_lock lock(mu);
    ++started;
    cv.notify_all();
    cv.wait(lock, [&] { return started == 3; });
  });
  EXPECT_EQ(started, 3);
}

}  // namespace
}  // namespace epochcache::client
