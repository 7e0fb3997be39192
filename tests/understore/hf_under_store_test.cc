// The Hugging Face store against scripted Hub and CDN servers on 127.0.0.1: commits pinned,
// tree pages followed, the token kept from the CDN, Retry-After waited for, escapes refused.
#include "understore/hf_under_store.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>

#include "scripted_http_server.h"
#include "support/manual_clock.h"
#include "understore/retrying_http.h"

namespace epochcache {
namespace {

using testing::ManualClock;
using testing::ScriptedHttpServer;

const std::string kCommit1(40, '1');
const std::string kCommit2(40, '2');

std::string RequestTarget(const std::string& request) {
  const auto sp = request.find(' ');
  return request.substr(sp + 1, request.find(' ', sp + 1) - sp - 1);
}

bool HasToken(const std::string& request) {
  return request.find("Authorization: Bearer hf_test_token") != std::string::npos;
}

struct Hub {
  std::string commit = kCommit1;
  int revision_429s = 0;  // answer the revision request 429 this many times
  ScriptedHttpServer cdn{[](const std::string& request) {
    const std::string target = RequestTarget(request);
    // The body names the commit in the URL the CDN was sent to.
    const std::string body = target.find(kCommit2) != std::string::npos ? "22222" : "11111";
    return ScriptedHttpServer::Response(206, body.substr(1, 3), "Content-Range: bytes 1-3/5\r\n");
  }};
  ScriptedHttpServer hub{[this](const std::string& request) {
    const std::string target = RequestTarget(request);
    if (target == "/api/datasets/org/name/revision/main") {
      if (revision_429s > 0) {
        --revision_429s;
        return ScriptedHttpServer::Response(429, "slow down", "Retry-After: 1\r\n");
      }
      return ScriptedHttpServer::Response(200, R"({"sha":")" + commit + R"("})");
    }
    if (target == "/api/datasets/org/name/tree/" + commit + "?recursive=false") {
      return ScriptedHttpServer::Response(200,
                                          R"([{"type":"file","oid":"o1","size":5,"path":"a.txt"}])",
                                          "Link: </api/datasets/org/name/tree/" + commit +
                                              "?recursive=false&cursor=p2>; rel=\"next\"\r\n");
    }
    if (target == "/api/datasets/org/name/tree/" + commit + "?recursive=false&cursor=p2") {
      return ScriptedHttpServer::Response(
          200,
          R"([{"type":"directory","oid":"d","path":"sub"},)"
          R"({"type":"file","oid":"o2","size":7,"path":"b.txt","lfs":{"oid":"big","size":7}}])");
    }
    if (target.starts_with("/datasets/org/name/resolve/")) {
      return ScriptedHttpServer::Response(302, "", "Location: " + cdn.endpoint() + target + "\r\n");
    }
    return ScriptedHttpServer::Response(404, "no");
  }};

  Result<std::unique_ptr<HfUnderStore>> Open(const std::string& root = "hf://datasets/org/name",
                                             std::chrono::milliseconds ttl = std::chrono::hours(1),
                                             Clock& clock = Clock::Real()) {
    HfSettings settings;
    settings.endpoint = hub.endpoint();
    settings.token = "hf_test_token";
    settings.token_source = "HF_TOKEN";
    settings.revision_ttl = ttl;
    return HfUnderStore::Open(root, UnderStoreOptions{}, settings, clock);
  }
};

TEST(HfUnderStore, ListsEveryPageSortedAndStatsFromTheTree) {
  Hub hub;
  auto store = hub.Open();
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto all = (*store)->List("hf://datasets/org/name", false);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 3U);
  EXPECT_EQ((*all)[0].path, "hf://datasets/org/name/a.txt");
  EXPECT_EQ((*all)[0].version, "hf:" + kCommit1 + ":o1");
  EXPECT_EQ((*all)[1].path, "hf://datasets/org/name/b.txt");
  EXPECT_EQ((*all)[1].version, "hf:" + kCommit1 + ":big");
  EXPECT_TRUE((*all)[2].is_directory);

  auto page =
      (*store)->ListAfter("hf://datasets/org/name", false, "hf://datasets/org/name/a.txt", 1);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->entries.size(), 1U);
  EXPECT_EQ(page->entries[0].path, "hf://datasets/org/name/b.txt");
  EXPECT_TRUE(page->more);

  auto st = (*store)->Stat("hf://datasets/org/name/b.txt");
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->size, 7U);
  EXPECT_EQ((*store)->Stat("hf://datasets/org/name/none.txt").status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ((*store)->revision_requests(), 1U);  // resolved once, then the commit is reused
  for (const auto& r : hub.hub.requests()) EXPECT_TRUE(HasToken(r)) << r;
}

TEST(HfUnderStore, ReadsThePinnedCommitThroughTheCdnWithoutTheToken) {
  Hub hub;
  auto store = hub.Open();
  ASSERT_TRUE(store.ok());
  auto st = (*store)->Stat("hf://datasets/org/name/a.txt");
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  hub.commit = kCommit2;  // the branch moves; the version read names the old commit
  std::array<std::byte, 3> buf{};
  auto n = (*store)->ReadRange("hf://datasets/org/name/a.txt", st->version, 1, buf);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), *n), "111");
  ASSERT_EQ(hub.cdn.requests().size(), 1U);
  EXPECT_FALSE(HasToken(hub.cdn.requests()[0]));
  EXPECT_NE(hub.cdn.requests()[0].find("Range: bytes=1-3"), std::string::npos);
  EXPECT_NE(RequestTarget(hub.cdn.requests()[0]).find(kCommit1), std::string::npos);
  EXPECT_TRUE(HasToken(hub.hub.requests().back()));
}

TEST(HfUnderStore, RevisionIsResolvedAgainAfterItsTtl) {
  Hub hub;
  ManualClock clock;
  auto store = hub.Open("hf://datasets/org/name", std::chrono::seconds(10), clock);
  ASSERT_TRUE(store.ok());
  auto first = (*store)->Stat("hf://datasets/org/name/a.txt");
  hub.commit = kCommit2;
  clock.Advance(std::chrono::seconds(9));  // within the TTL: still the commit resolved first
  auto within = (*store)->Stat("hf://datasets/org/name/a.txt");
  clock.Advance(std::chrono::seconds(1));  // at the TTL: resolved again
  auto second = (*store)->Stat("hf://datasets/org/name/a.txt");
  ASSERT_TRUE(first.ok() && within.ok() && second.ok());
  EXPECT_EQ(first->version, "hf:" + kCommit1 + ":o1");
  EXPECT_EQ(within->version, "hf:" + kCommit1 + ":o1");
  EXPECT_EQ(second->version, "hf:" + kCommit2 + ":o1");
  EXPECT_EQ((*store)->revision_requests(), 2U);
  std::array<std::byte, 3> buf{};
  auto n = (*store)->ReadRange("hf://datasets/org/name/a.txt", second->version, 1, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), *n), "222");
}

TEST(HfUnderStore, WaitsForRetryAfterOn429) {
  Hub hub;
  hub.revision_429s = 1;
  auto store = hub.Open();
  ASSERT_TRUE(store.ok());
  const auto start = std::chrono::steady_clock::now();
  auto st = (*store)->Stat("hf://datasets/org/name/a.txt");
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  // A lower bound only: the store waited at least the second the Hub asked for.
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(950));
}

TEST(RetryAfterHeader, SecondsOrADateOnlyOn429And503) {
  HttpResponse r;
  r.status = 429;
  r.headers["retry-after"] = "3";
  EXPECT_EQ(RetryAfter(r), std::chrono::milliseconds(3000));
  r.headers["retry-after"] = "Wed, 21 Oct 2015 07:28:00 GMT";  // past: no wait
  EXPECT_EQ(RetryAfter(r), std::chrono::milliseconds(0));
  r.headers["retry-after"] = "soon";
  EXPECT_FALSE(RetryAfter(r).has_value());
  r.status = 503;
  r.headers["retry-after"] = "1";
  EXPECT_EQ(RetryAfter(r), std::chrono::milliseconds(1000));
  r.status = 500;
  EXPECT_FALSE(RetryAfter(r).has_value());
}

TEST(HfUnderStore, RefusesPathsOutsideTheRoot) {
  Hub hub;
  auto store = hub.Open("hf://datasets/org/name@main/data");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  for (const char* path :
       {"hf://datasets/org/name@main/data/../secret", "hf://datasets/org/other@main/data/x",
        "hf://datasets/org/name@dev/data/x", "hf://datasets/org/name/data/x",
        "hf://org/name@main/data/x", "hf://datasets/org/name@main/database",
        "hf://datasets/org/name@main/data/%2e%2e/x?y"}) {
    auto st = (*store)->Stat(path);
    ASSERT_FALSE(st.ok()) << path;
    EXPECT_EQ(st.status().code(), StatusCode::kPermissionDenied) << path;
  }
  EXPECT_TRUE(hub.hub.requests().empty());
  EXPECT_EQ(
      (*store)->ReadRange("hf://datasets/org/name@main/data/x", "hf:main:x", 0, {}).status().code(),
      StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace epochcache
