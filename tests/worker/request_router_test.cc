#include "worker/request_router.h"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "support/read_plan_bytes.h"
#include "support/test_page_store.h"
#include "temp_dir.h"
#include "understore/memory_under_store.h"

namespace epochcache::worker {
namespace {

using nlohmann::json;
using testing::PatternBytes;
using testing::TempDir;

constexpr std::uint64_t kPageSize = 4096;

// The in-memory under store, counting every call, whose ReadRange of one chosen path can be
// held until the test lets it go (to stand for a slow remote read).
class GatedUnderStore final : public UnderStore {
 public:
  MemoryUnderStore files;

  // The next ReadRange calls of `path` count `entered` down, then wait for `release`.
  void Gate(std::string path, std::latch* entered, std::latch* release) {
    std::lock_guard lock(mu_);
    gated_path_ = std::move(path);
    entered_ = entered;
    release_ = release;
  }

  [[nodiscard]] int calls() const { return calls_.load(); }

  [[nodiscard]] std::string_view Scheme() const override { return "gated"; }
  Result<FileStatus> Stat(std::string_view path) override {
    calls_.fetch_add(1);
    return files.Stat(path);
  }
  Result<std::vector<FileStatus>> List(std::string_view path, bool recursive) override {
    calls_.fetch_add(1);
    return files.List(path, recursive);
  }
  Result<std::size_t> ReadRange(std::string_view path, std::string_view version,
                                std::uint64_t offset, std::span<std::byte> out) override {
    calls_.fetch_add(1);
    std::latch* entered = nullptr;
    std::latch* release = nullptr;
    {
      std::lock_guard lock(mu_);
      if (path == gated_path_) {
        entered = entered_;
        release = release_;
      }
    }
    if (entered != nullptr) entered->count_down();
    if (release != nullptr) release->wait();
    return files.ReadRange(path, version, offset, out);
  }

 private:
  std::atomic<int> calls_{0};
  std::mutex mu_;
  std::string gated_path_;         // GUARDED_BY(mu_)
  std::latch* entered_ = nullptr;  // GUARDED_BY(mu_)
  std::latch* release_ = nullptr;  // GUARDED_BY(mu_)
};

// The bytes a reply's first window carries.
std::string FirstWindowBytes(const HttpReply& reply) {
  return reply.file ? testing_support::PlanBytes(reply.file->first) : std::string();
}

std::string Header(const HttpReply& reply, std::string_view name) {
  for (const auto& [key, value] : reply.headers) {
    if (key == name) return value;
  }
  return {};
}

class RequestRouterTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open(std::uint64_t max_inflight_miss_bytes = std::uint64_t{256} << 20,
            std::uint64_t window_bytes = 4 * kPageSize) {
    router_.reset();
    service_.reset();
    pages_.reset();
    pages_ = testing_support::OpenTestStore({{cache_.str() + "/pages", 64 << 20}}, kPageSize);
    ASSERT_NE(pages_, nullptr);
    ReadServiceOptions read_options;
    read_options.max_inflight_miss_bytes = max_inflight_miss_bytes;
    service_ = std::make_unique<ReadService>(under_, *pages_, read_options);
    router_ = std::make_unique<RequestRouter>(*service_, window_bytes);
  }

  HttpReply Get(const std::string& target, std::optional<std::string> range = std::nullopt) {
    return router_->Handle(HttpRequest{"GET", target, std::move(range)});
  }
  std::optional<HttpReply> TryGet(const std::string& target,
                                  std::optional<std::string> range = std::nullopt) {
    return router_->TryHandleWithoutUnderStore(HttpRequest{"GET", target, std::move(range)});
  }

  TempDir cache_;
  GatedUnderStore under_;
  std::unique_ptr<PageStore> pages_;
  std::unique_ptr<ReadService> service_;
  std::unique_ptr<RequestRouter> router_;
};

TEST_F(RequestRouterTest, PathsThatCouldLeaveTheRootAreRefusedAtTheDoor) {
  under_.files.Put("/d/x", "secret");
  under_.files.Put("/x", "outside");
  // Each decodes (once) to a spelling the path rules refuse.
  for (const char* encoded :
       {"/d/../x", "%2Fd%2F..%2Fx", "/d/%2e%2e/x", "/d/%2E%2E/x", "/d/./x", "/d//x", "/d/%2F/x",
        "/d/x%00", "/d/x%00/../../x", "/d/x%0a", "/d/x%3Fy", "/d/x%23y", "d/x", "/d/x/..",
        "s3://bucket/d/../x", "http://user%40host/d/x"}) {
    for (const char* endpoint : {"/v1/read?path=", "/v1/stat?path=", "/v1/list?path="}) {
      const std::string target = std::string(endpoint) + encoded;
      HttpReply reply = Get(target);
      EXPECT_EQ(reply.status, 403U) << target << " " << reply.body;
      EXPECT_EQ(json::parse(reply.body)["error"], "permission_denied") << target;
      EXPECT_FALSE(reply.file) << target;
      // The hit path refuses them just the same, without declining to the miss path.
      auto fast = TryGet(target);
      ASSERT_TRUE(fast) << target;
      EXPECT_EQ(fast->status, 403U) << target;
    }
  }
  EXPECT_EQ(under_.calls(), 0);
  EXPECT_EQ(service_->metadata_cache().size(), 0U);
  // Health takes no path: whatever a prober appends, it stays open.
  EXPECT_EQ(Get("/v1/health?path=/d/../x").status, 200U);
}

TEST_F(RequestRouterTest, QueryStringsAreDecodedExactlyOnce) {
  under_.files.Put("/d/a+b", "plus");
  under_.files.Put("/d/a b", "space");
  under_.files.Put("/d/%2e%2e", "literal percent name");
  // '+' is a plus, not a space.
  EXPECT_EQ(FirstWindowBytes(Get("/v1/read?path=/d/a+b")), "plus");
  EXPECT_EQ(FirstWindowBytes(Get("/v1/read?path=/d/a%2Bb")), "plus");
  EXPECT_EQ(FirstWindowBytes(Get("/v1/read?path=/d/a%20b")), "space");
  // "%252e%252e" is the name "%2e%2e" (decoded once), never "..".
  HttpReply literal = Get("/v1/read?path=/d/%252e%252e");
  EXPECT_EQ(literal.status, 200U) << literal.body;
  EXPECT_EQ(FirstWindowBytes(literal), "literal percent name");
  HttpReply missing = Get("/v1/stat?path=/d/%252e%252e/x");
  EXPECT_EQ(missing.status, 404U) << missing.body;
  EXPECT_NE(json::parse(missing.body)["message"].get<std::string>().find("/d/%2e%2e/x"),
            std::string::npos);
  // A version goes upstream in a header: no CR/LF or NUL smuggled through it.
  for (const char* version : {"v%0d%0aX-Evil:%201", "v%00", "v%0a"}) {
    HttpReply reply = Get(std::string("/v1/read?path=/d/a+b&version=") + version);
    EXPECT_EQ(reply.status, 400U) << version;
  }
}

TEST_F(RequestRouterTest, ListIsPaginated) {
  constexpr int kFiles = 25;
  std::vector<std::string> names;
  for (int i = kFiles - 1; i >= 0; --i) {  // stored out of order on purpose
    char name[32];
    std::snprintf(name, sizeof name, "/d/f%02d", i);
    under_.files.Put(name, std::to_string(i));
    names.emplace_back(name);
  }
  std::sort(names.begin(), names.end());

  std::vector<std::string> seen;
  std::string target = "/v1/list?path=/d&limit=10";
  int pages = 0;
  for (; pages < 10; ++pages) {
    HttpReply reply = Get(target);
    ASSERT_EQ(reply.status, 200U) << reply.body;
    const json body = json::parse(reply.body);
    EXPECT_EQ(body["path"], "/d");
    EXPECT_LE(body["entries"].size(), 10U);
    for (const auto& entry : body["entries"]) seen.push_back(entry["path"].get<std::string>());
    if (!body.contains("next_start_after")) break;
    EXPECT_EQ(body["next_start_after"], seen.back());
    target = "/v1/list?path=/d&limit=10&start_after=" + body["next_start_after"].get<std::string>();
  }
  EXPECT_EQ(pages, 2);  // 10 + 10 + 5: the third page has no next_start_after
  EXPECT_EQ(seen, names);

  // Exactly `limit` entries left: no next_start_after.
  const json exact = json::parse(Get("/v1/list?path=/d&limit=25").body);
  EXPECT_EQ(exact["entries"].size(), 25U);
  EXPECT_FALSE(exact.contains("next_start_after"));
  const json by_default = json::parse(Get("/v1/list?path=/d").body);
  EXPECT_EQ(by_default["entries"].size(), 25U);
  EXPECT_FALSE(by_default.contains("next_start_after"));
  EXPECT_EQ(Get("/v1/list?path=/d&limit=10000").status, 200U);
  const json past = json::parse(Get("/v1/list?path=/d&start_after=/d/zz").body);
  EXPECT_TRUE(past["entries"].empty());

  for (const char* bad : {"0", "10001", "-1", "+5", "abc", "", "1e3", "99999999999999999999999"}) {
    HttpReply reply = Get(std::string("/v1/list?path=/d&limit=") + bad);
    EXPECT_EQ(reply.status, 400U) << bad;
    EXPECT_EQ(json::parse(reply.body)["error"], "invalid_argument") << bad;
    auto fast = TryGet(std::string("/v1/list?path=/d&limit=") + bad);
    ASSERT_TRUE(fast) << bad;  // a bad parameter needs no under store to refuse
    EXPECT_EQ(fast->status, 400U);
  }
  EXPECT_FALSE(TryGet("/v1/list?path=/d"));  // a listing always needs the under store
}

TEST_F(RequestRouterTest, BusyWorkerAnswers503WithRetryAfter) {
  Open(/*max_inflight_miss_bytes=*/2 * kPageSize, /*window_bytes=*/kPageSize);
  under_.files.Put("/f", PatternBytes(4 * kPageSize, 3));
  // Two replies whose (missed) first windows are not sent yet hold the whole budget.
  HttpReply first = Get("/v1/read?path=/f", "bytes=0-99");
  HttpReply second = Get("/v1/read?path=/f", "bytes=4096-4100");
  ASSERT_EQ(first.status, 206U) << first.body;
  ASSERT_EQ(second.status, 206U) << second.body;
  HttpReply busy = Get("/v1/read?path=/f", "bytes=8192-8200");
  EXPECT_EQ(busy.status, 503U);
  EXPECT_EQ(Header(busy, "Retry-After"), "1");
  const json body = json::parse(busy.body);
  EXPECT_EQ(body["error"], "unavailable");
  EXPECT_TRUE(body["message"].get<std::string>().starts_with("worker busy: ")) << busy.body;
  const json stats = json::parse(Get("/v1/stats").body);
  EXPECT_EQ(stats["inflight_miss_bytes"], 2 * kPageSize);
  EXPECT_EQ(stats["inflight_miss_limit"], 2 * kPageSize);
  EXPECT_EQ(stats["miss_budget_refusals"], 1);

  first = HttpReply{};  // sent: its buffer is released
  HttpReply later = Get("/v1/read?path=/f", "bytes=8192-8200");
  EXPECT_EQ(later.status, 206U) << later.body;
  EXPECT_TRUE(Header(later, "Retry-After").empty());
  later = HttpReply{};
  second = HttpReply{};
  // Other 503s (an under store that is down) carry no Retry-After: only overload does.
  under_.files.InjectFailure(Status::Unavailable("origin down"));
  HttpReply down = Get("/v1/read?path=/f", "bytes=12288-12290");
  EXPECT_EQ(down.status, 503U);
  EXPECT_TRUE(Header(down, "Retry-After").empty());
}

TEST_F(RequestRouterTest, HitPathAnswersOnlyWhatNeedsNoUnderStore) {
  const std::string data = PatternBytes(6 * kPageSize + 10, 4);
  under_.files.Put("/f", data);
  EXPECT_EQ(TryGet("/v1/health")->status, 200U);
  EXPECT_EQ(TryGet("/v1/stats")->status, 200U);
  EXPECT_EQ(TryGet("/v1/nope")->status, 404U);
  EXPECT_EQ(
      router_->TryHandleWithoutUnderStore(HttpRequest{"POST", "/v1/read?path=/f", {}})->status,
      405U);
  EXPECT_EQ(TryGet("/v1/read")->status, 400U);
  EXPECT_EQ(TryGet("/v1/read?path=/f", "bytes=zz")->status, 400U);
  const auto requests = service_->counters().requests.load();
  EXPECT_FALSE(TryGet("/v1/read?path=/f"));  // nothing cached: declined
  EXPECT_FALSE(TryGet("/v1/stat?path=/f"));
  EXPECT_EQ(service_->counters().requests.load(), requests);  // a declined request is not counted
  EXPECT_EQ(under_.calls(), 0);

  // Warm the status and the first window (pages 0-3).
  ASSERT_EQ(Get("/v1/read?path=/f", "bytes=0-16383").status, 206U);
  const int calls = under_.calls();
  auto stat = TryGet("/v1/stat?path=/f");
  ASSERT_TRUE(stat);
  EXPECT_EQ(json::parse(stat->body)["size"], data.size());

  auto whole = TryGet("/v1/read?path=/f");
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->status, 200U);
  EXPECT_EQ(Header(*whole, "X-Epochcache-Size"), std::to_string(data.size()));
  ASSERT_TRUE(whole->file);
  EXPECT_EQ(whole->file->end, data.size());
  EXPECT_EQ(FirstWindowBytes(*whole), data.substr(0, 4 * kPageSize));
  for (const auto& segment : whole->file->first.segments) EXPECT_TRUE(segment.is_page());
  // The second window is not cached: the sender must plan it on the miss path.
  const FileStatus& status = whole->file->first.status;
  EXPECT_FALSE(router_->TryNextWindowWithoutUnderStore(status, 4 * kPageSize, data.size()));

  auto ranged = TryGet("/v1/read?path=/f", "bytes=100-199");
  ASSERT_TRUE(ranged);
  EXPECT_EQ(ranged->status, 206U);
  EXPECT_EQ(Header(*ranged, "Content-Range"), "bytes 100-199/" + std::to_string(data.size()));
  EXPECT_EQ(FirstWindowBytes(*ranged), data.substr(100, 100));
  auto unsatisfiable = TryGet("/v1/read?path=/f", "bytes=999999-");
  ASSERT_TRUE(unsatisfiable);
  EXPECT_EQ(unsatisfiable->status, 416U);
  // A range starting in an uncached page, or another version than the cached one: declined.
  EXPECT_FALSE(TryGet("/v1/read?path=/f", "bytes=20000-20001"));
  EXPECT_FALSE(TryGet("/v1/read?path=/f&version=other"));
  EXPECT_TRUE(TryGet("/v1/read?path=/f&version=" + status.version));
  EXPECT_EQ(under_.calls(), calls);

  // The sender plans the second window on the miss path; after that it is a hit too.
  ASSERT_TRUE(router_->NextWindow(status, 4 * kPageSize, data.size()).ok());
  auto second = router_->TryNextWindowWithoutUnderStore(status, 4 * kPageSize, data.size());
  ASSERT_TRUE(second);
  ASSERT_TRUE(second->ok());
  EXPECT_EQ(second->value().offset, 4 * kPageSize);
  EXPECT_EQ(second->value().length, data.size() - 4 * kPageSize);
  auto empty = router_->TryNextWindowWithoutUnderStore(status, data.size(), data.size());
  ASSERT_TRUE(empty && empty->ok());
  EXPECT_EQ(empty->value().length, 0U);
}

TEST_F(RequestRouterTest, HitPathDeclinesAFirstWindowLongerThanAsked) {
  const std::string data = PatternBytes(6 * kPageSize, 5);
  under_.files.Put("/f", data);
  ASSERT_EQ(Get("/v1/read?path=/f").status, 200U);  // status and both windows cached
  const int calls = under_.calls();
  const auto hits = service_->counters().page_hits.load();
  auto try_get = [&](std::string range, std::uint64_t limit) {
    return router_->TryHandleWithoutUnderStore(HttpRequest{"GET", "/v1/read?path=/f", range},
                                               limit);
  };
  // Within the limit: answered.
  auto small = try_get("bytes=10-109", kPageSize);
  ASSERT_TRUE(small);
  EXPECT_EQ(FirstWindowBytes(*small), data.substr(10, 100));
  // Past it: declined before any page is looked up, and not counted.
  const auto requests = service_->counters().requests.load();
  EXPECT_FALSE(try_get("bytes=0-8191", kPageSize));
  // The first window of a longer range ends at the window boundary (4 pages), not at its end.
  EXPECT_FALSE(try_get("bytes=100-", 4 * kPageSize - 101));
  EXPECT_EQ(service_->counters().requests.load(), requests);
  EXPECT_EQ(service_->counters().page_hits.load(), hits + 1);
  EXPECT_TRUE(try_get("bytes=100-", 4 * kPageSize - 100));
  // Without a limit the same requests are hits.
  auto large = try_get("bytes=0-8191", std::numeric_limits<std::uint64_t>::max());
  ASSERT_TRUE(large);
  EXPECT_EQ(FirstWindowBytes(*large), data.substr(0, 8192));
  // Errors need no window at all: answered whatever the limit.
  auto unsatisfiable = try_get("bytes=999999-", 1);
  ASSERT_TRUE(unsatisfiable);
  EXPECT_EQ(unsatisfiable->status, 416U);
  EXPECT_EQ(under_.calls(), calls);
}

TEST_F(RequestRouterTest, HitsAreAnsweredWhileAMissIsStuckInTheUnderStore) {
  const std::string hot = PatternBytes(2 * kPageSize, 5);
  const std::string slow = PatternBytes(2 * kPageSize, 6);
  under_.files.Put("/hot", hot);
  under_.files.Put("/slow", slow);
  ASSERT_EQ(Get("/v1/read?path=/hot").status, 200U);   // warm
  ASSERT_EQ(Get("/v1/stat?path=/slow").status, 200U);  // status cached, pages cold

  std::latch entered(2);  // both pages of /slow are fetched at once
  std::latch release(1);
  under_.Gate("/slow", &entered, &release);
  std::thread miss([&] {
    HttpReply reply = Get("/v1/read?path=/slow");
    EXPECT_EQ(reply.status, 200U);
    EXPECT_EQ(FirstWindowBytes(reply), slow);
  });
  entered.wait();  // the miss now holds both pages' single-flights and sits in the under store

  const int calls = under_.calls();
  auto hit = TryGet("/v1/read?path=/hot");
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->status, 200U);
  EXPECT_EQ(FirstWindowBytes(*hit), hot);
  EXPECT_EQ(TryGet("/v1/health")->status, 200U);
  EXPECT_EQ(TryGet("/v1/stat?path=/slow")->status, 200U);
  // The stuck page itself is declined at once, not joined to the stuck fetch.
  EXPECT_FALSE(TryGet("/v1/read?path=/slow"));
  EXPECT_EQ(under_.calls(), calls);

  release.count_down();
  miss.join();
  under_.Gate("", nullptr, nullptr);
  auto now_hot = TryGet("/v1/read?path=/slow");
  ASSERT_TRUE(now_hot);
  EXPECT_EQ(FirstWindowBytes(*now_hot), slow);
}

}  // namespace
}  // namespace epochcache::worker
