// The seeded etcd view: serves the seed workers while etcd cannot be read, then etcd's workers
// for good, against a scripted etcd on 127.0.0.1.
#include "membership/seeded_etcd_view.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "../understore/scripted_http_server.h"
#include "common/base64.h"
#include "support/eventually.h"
#include "support/manual_clock.h"

namespace epochcache {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ScriptedHttpServer;
using testing::WaitUntil;

std::string RangeAnswer(const std::vector<WorkerRecord>& workers) {
  std::string kvs;
  for (const auto& w : workers) {
    if (!kvs.empty()) kvs += ",";
    kvs += fmt::format(R"({{"key":"{}","value":"{}"}})", Base64Encode(WorkerKeyPrefix("t") + w.id),
                       Base64Encode(w.ToJson()));
  }
  return ScriptedHttpServer::Response(200, fmt::format(R"({{"kvs":[{}]}})", kvs));
}

EtcdOptions Options(const ScriptedHttpServer& etcd) {
  EtcdOptions options;
  options.endpoints = {etcd.endpoint()};
  options.cluster = "t";
  options.request_timeout = milliseconds(2000);
  return options;
}

const WorkerRecord kSeedB{"seed-b", "127.0.0.1:7402", 0, 0};
const WorkerRecord kSeedA{"seed-a", "127.0.0.1:7401", 0, 0};
const WorkerRecord kEtcdWorker{"w-1", "127.0.0.1:7411", 1, 2};

TEST(SeededEtcdViewTest, ServesTheSeedUntilEtcdAnswersThenEtcdForGood) {
  // etcd fails twice, then answers with one worker, then with none (which the view must follow:
  // once switched, etcd's answer is the truth, not the seed).
  std::atomic<int> calls{0};
  ScriptedHttpServer etcd([&](const std::string&) {
    const int n = calls++;
    if (n < 2) return ScriptedHttpServer::Response(503, "etcd down");
    if (n < 4) return RangeAnswer({kEtcdWorker});
    return RangeAnswer({});
  });
  testing::ManualClock clock;
  auto view = MakeSeededEtcdView(Options(etcd), seconds(1), {kSeedB, kSeedA}, clock);
  // Nothing asks etcd before a refresh period has passed on the clock; meanwhile the seed,
  // sorted by id like every view.
  EXPECT_EQ(view->Workers(), (std::vector<WorkerRecord>{kSeedA, kSeedB}));
  EXPECT_EQ(view->generation(), 1U);
  EXPECT_EQ(calls.load(), 0);
  // Each period: one attempt. The first two fail and change nothing.
  for (int attempt = 1; attempt <= 2; ++attempt) {
    clock.Advance(seconds(1));
    ASSERT_TRUE(WaitUntil([&] { return calls.load() == attempt; }));
    EXPECT_EQ(view->Workers(), (std::vector<WorkerRecord>{kSeedA, kSeedB}));
    EXPECT_EQ(view->generation(), 1U);
  }
  // The third reaches etcd: the view switches, with a generation past the seed's.
  clock.Advance(seconds(1));
  ASSERT_TRUE(WaitUntil([&] { return view->Workers() == std::vector<WorkerRecord>{kEtcdWorker}; }));
  const auto switched = view->generation();
  EXPECT_GT(switched, 1U);
  // From now on the etcd view refreshes on the same clock and follows etcd, never the seed.
  for (int i = 0; i < 3 && !view->Workers().empty(); ++i) {
    const int before = calls.load();
    clock.Advance(seconds(1));
    ASSERT_TRUE(WaitUntil([&] { return calls.load() > before; }));
  }
  ASSERT_TRUE(WaitUntil([&] { return view->Workers().empty(); }));
  EXPECT_GT(view->generation(), switched);
}

TEST(SeededEtcdViewTest, StopsAtOnceWhileWaitingForEtcd) {
  std::atomic<int> calls{0};
  ScriptedHttpServer etcd([&](const std::string&) {
    ++calls;
    return ScriptedHttpServer::Response(503, "etcd down");
  });
  // A real clock and a refresh far longer than any test: destroying the view must end the wait
  // instead of serving it out (a hang here is caught by the test timeout).
  auto view = MakeSeededEtcdView(Options(etcd), std::chrono::hours(1), {kSeedA}, Clock::Real());
  EXPECT_EQ(view->Workers(), std::vector<WorkerRecord>{kSeedA});
  view.reset();
  EXPECT_EQ(calls.load(), 0);
}

}  // namespace
}  // namespace epochcache
