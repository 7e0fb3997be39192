// The client's side of worker security: the bearer token, 401 and 503 answers, paginated
// listings, and answers a worker should never send.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "epochcache/client.h"
#include "fake_worker.h"
#include "test_client.h"
#include "understore/memory_under_store.h"

namespace epochcache {
namespace {

using namespace std::chrono_literals;
using testing::FakeWorker;
using testing::Garble;
using testing::ReadString;
using testing::SmallPieceOptions;

constexpr char kToken[] = "tok-3f9a1c77e2";

std::unique_ptr<Client> Make(ClientOptions options) {
  auto client = Client::Create(std::move(options));
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return std::move(client).value();
}

std::string Data(std::size_t n) {
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>('a' + (i * 7) % 26);
  return out;
}

TEST(AuthTest, TokenGoesWithEveryRequest) {
  FakeWorker w;
  w.RequireToken(kToken);
  const std::string data = Data(2500);
  w.PutFile("/d/f", data);
  auto client = Make(SmallPieceOptions({w.address()}, kToken));
  ASSERT_TRUE(client->Stat("/d/f").ok());
  auto listed = client->List("/d", false);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(listed->size(), 1U);
  EXPECT_EQ(*ReadString(*client, "/d/f", 0, 2500), data);
  ASSERT_TRUE(client->WorkerStats(w.address()).ok());
  const auto seen = w.Authorizations();
  ASSERT_GE(seen.size(), 6U);  // stat, list, 3 pieces, stats
  for (const auto& h : seen) EXPECT_EQ(h, std::string("Bearer ") + kToken);
  EXPECT_EQ(w.unauthorized.load(), 0);
}

TEST(AuthTest, TokenThatWouldBreakTheHeaderIsRefused) {
  const std::vector<std::string> bads = {"abc\n", "ab\r\nX-Injected: 1", "a b",
                                         std::string("a\0b", 3)};
  for (const auto& bad : bads) {
    auto client = Client::Create(SmallPieceOptions({"127.0.0.1:1"}, bad));
    ASSERT_EQ(client.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(client.status().message().find("auth_token"), std::string::npos);
    EXPECT_EQ(client.status().message().find(bad), std::string::npos);
  }
}

TEST(AuthTest, NoTokenSendsNoHeader) {
  FakeWorker w;
  w.PutFile("/f", "abc");
  auto client = Make(SmallPieceOptions({w.address()}));
  ASSERT_TRUE(client->Stat("/f").ok());
  ASSERT_EQ(w.Authorizations().size(), 1U);
  EXPECT_EQ(w.Authorizations()[0], "");
}

TEST(AuthTest, MissingTokenIsFinalNamesTheWorkerAndIsNotReadDirectly) {
  FakeWorker w1;
  FakeWorker w2;
  w1.RequireToken(kToken);
  w2.RequireToken(kToken);
  auto store = std::make_shared<MemoryUnderStore>();
  store->Put("/f", "direct bytes");
  ClientOptions options = SmallPieceOptions({w1.address(), w2.address()});
  options.fallback_store = store;
  auto client = Make(std::move(options));
  auto st = client->Stat("/f");
  ASSERT_EQ(st.status().code(), StatusCode::kUnauthenticated) << st.status().ToString();
  const std::string owner = client->Locate("/f", 0, 1)[0];
  EXPECT_NE(st.status().message().find(owner), std::string::npos) << st.status().message();
  EXPECT_NE(st.status().message().find("none was given"), std::string::npos);
  // One worker asked, no other worker, no direct read: another worker has the same token.
  EXPECT_EQ(w1.unauthorized.load() + w2.unauthorized.load(), 1);
  EXPECT_EQ(client->stats().failovers, 0U);
  EXPECT_EQ(client->stats().direct_metadata, 0U);
  EXPECT_EQ(client->stats().breaker_opens, 0U);
  EXPECT_EQ(client->List("/", true).status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(client->stats().direct_metadata, 0U);
}

TEST(AuthTest, WrongTokenOnAPieceIsFinalAndNeverEchoed) {
  FakeWorker w1;
  FakeWorker w2;
  const std::string data = Data(3000);
  w1.PutFile("/f", data);
  w2.PutFile("/f", data);
  const std::string wrong = "wrong-token-5d2e";
  auto store = std::make_shared<MemoryUnderStore>();
  store->Put("/f", data);
  ClientOptions options = SmallPieceOptions({w1.address(), w2.address()}, wrong);
  options.fallback_store = store;
  auto client = Make(std::move(options));
  ASSERT_TRUE(client->Stat("/f").ok());  // cached: the reads below skip the stat
  w1.RequireToken(kToken);
  w2.RequireToken(kToken);
  auto got = ReadString(*client, "/f", 0, 3000);
  ASSERT_EQ(got.status().code(), StatusCode::kUnauthenticated) << got.status().ToString();
  EXPECT_NE(got.status().message().find("not accepted"), std::string::npos);
  EXPECT_EQ(got.status().message().find(wrong), std::string::npos);
  EXPECT_EQ(got.status().message().find(kToken), std::string::npos);
  EXPECT_EQ(client->stats().failovers, 0U);
  EXPECT_EQ(client->stats().direct_reads, 0U);
}

TEST(OverloadTest, EveryWorkerBusyIsUnavailable) {
  FakeWorker w;
  w.PutFile("/f", Data(500));
  auto client = Make(SmallPieceOptions({w.address()}));
  ASSERT_TRUE(client->Stat("/f").ok());
  w.fail_reads_with_503 = 1;
  auto got = ReadString(*client, "/f", 0, 500);
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable) << got.status().ToString();
  EXPECT_NE(got.status().message().find("busy"), std::string::npos);
}

TEST(ListTest, FollowsPagesToTheEnd) {
  FakeWorker w;
  for (int i = 0; i < 7; ++i) w.PutFile("/d/f" + std::to_string(i), Data(10 + i));
  w.PutFile("/e/other", "x");
  w.list_page_size = 2;
  auto client = Make(SmallPieceOptions({w.address()}));
  auto listed = client->List("/d", true);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 7U);
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ((*listed)[i].path, "/d/f" + std::to_string(i));
    EXPECT_EQ((*listed)[i].size, 10U + i);
  }
  EXPECT_EQ(w.lists.load(), 4);  // 2 + 2 + 2 + 1
}

TEST(ListTest, ExactMultipleOfThePageSize) {
  FakeWorker w;
  for (int i = 0; i < 4; ++i) w.PutFile("/d/f" + std::to_string(i), "x");
  w.list_page_size = 2;
  auto client = Make(SmallPieceOptions({w.address()}));
  auto listed = client->List("/d", false);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(listed->size(), 4U);
  // The second page is full but names no cursor, since nothing follows: no third request.
  EXPECT_EQ(w.lists.load(), 2);
}

TEST(ListTest, WorkerThatDoesNotPaginateStillWorks) {
  FakeWorker w;
  for (int i = 0; i < 5; ++i) w.PutFile("/d/f" + std::to_string(i), "x");
  auto client = Make(SmallPieceOptions({w.address()}));
  auto listed = client->List("/d", false);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(listed->size(), 5U);
  EXPECT_EQ(w.lists.load(), 1);
}

TEST(ListTest, LaterPageFromAWorkerThatDoesNotPaginateAddsNoDuplicates) {
  // Page 1 from a paginating worker that then fails; page 2 from one that ignores start_after
  // and sends everything (a cluster in the middle of an upgrade).
  FakeWorker w1;
  FakeWorker w2;
  for (FakeWorker* w : {&w1, &w2}) {
    for (int i = 0; i < 5; ++i) w->PutFile("/d/f" + std::to_string(i), "x");
  }
  auto client = Make(SmallPieceOptions({w1.address(), w2.address()}));
  FakeWorker& owner = client->Locate("/d", 0, 1)[0] == w1.address() ? w1 : w2;
  FakeWorker& other = &owner == &w1 ? w2 : w1;
  owner.list_page_size = 2;
  owner.lists_before_failing = 1;
  other.list_ignores_start_after = true;
  auto listed = client->List("/d", false);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  std::vector<std::string> paths;
  for (const auto& st : *listed) paths.push_back(st.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"/d/f0", "/d/f1", "/d/f2", "/d/f3", "/d/f4"}));
  EXPECT_EQ(owner.lists.load(), 2);
  EXPECT_EQ(other.lists.load(), 1);
}

TEST(ListTest, CursorThatDoesNotAdvanceIsAnError) {
  FakeWorker w;
  for (int i = 0; i < 5; ++i) w.PutFile("/d/f" + std::to_string(i), "x");
  w.list_page_size = 2;
  w.list_cursor_stuck = true;
  auto client = Make(SmallPieceOptions({w.address()}));
  auto listed = client->List("/d", false);
  ASSERT_EQ(listed.status().code(), StatusCode::kIoError) << listed.status().ToString();
  EXPECT_NE(listed.status().message().find("does not advance"), std::string::npos);
  EXPECT_NE(listed.status().message().find(w.address()), std::string::npos);
  EXPECT_EQ(w.lists.load(), 2);
}

// Every malformed answer is a clear error naming the worker, never a crash.
struct GarbleCase {
  Garble garble;
  const char* expected;  // part of the message
};

class MalformedAnswerTest : public ::testing::TestWithParam<GarbleCase> {};

TEST_P(MalformedAnswerTest, IsAnIoErrorNamingTheWorker) {
  FakeWorker w;
  w.PutFile("/d/f", Data(1500));
  auto client = Make(SmallPieceOptions({w.address()}));
  const bool on_read = GetParam().garble == Garble::kContentRangeGarbage ||
                       GetParam().garble == Garble::kContentRangeOverflow;
  if (on_read) {
    ASSERT_TRUE(client->Stat("/d/f").ok());
  }
  w.garble = GetParam().garble;
  Status s;
  if (GetParam().garble == Garble::kListWrongTypes) {
    s = client->List("/d", false).status();
  } else if (on_read) {
    s = ReadString(*client, "/d/f", 0, 1500).status();
  } else {
    s = client->Stat("/d/f").status();
  }
  EXPECT_EQ(s.code(), StatusCode::kIoError) << s.ToString();
  EXPECT_NE(s.message().find(w.address()), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(GetParam().expected), std::string::npos) << s.message();
}

INSTANTIATE_TEST_SUITE_P(
    Answers, MalformedAnswerTest,
    ::testing::Values(GarbleCase{Garble::kStatNotJson, "malformed answer"},
                      GarbleCase{Garble::kStatWrongTypes, "has no size"},
                      GarbleCase{Garble::kListWrongTypes, "no 'entries' array"},
                      GarbleCase{Garble::kContentRangeGarbage, "bad Content-Range 'bytes x-y/z'"},
                      GarbleCase{Garble::kContentRangeOverflow, "bad Content-Range"}));

}  // namespace
}  // namespace epochcache
