// etcd answers that are malformed in every way we could think of: each must become an error
// Status (naming the endpoint once it passes through EtcdClient), never an exception, and the
// view's background thread must outlive them.
#include "membership/etcd_answers.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "../understore/scripted_http_server.h"
#include "common/base64.h"
#include "epochcache/membership.h"
#include "membership/etcd_client.h"
#include "support/eventually.h"

namespace epochcache {
namespace {

using std::chrono::milliseconds;
using testing::ScriptedHttpServer;

TEST(EtcdAnswersTest, LeaseGrantTakesStringAndNumberIds) {
  auto id =
      ParseEtcdLeaseGrant(R"({"header":{"revision":"5"},"ID":"7587862338413372676","TTL":"10"})");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, 7587862338413372676);
  id = ParseEtcdLeaseGrant(R"({"ID": 42})");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 42);
}

TEST(EtcdAnswersTest, MalformedLeaseGrantsAreErrors) {
  const char* bad[] = {
      "",
      "{",
      R"({"ID":"12)",  // truncated
      "[1,2]",         // not an object
      "null",
      R"({})",            // missing
      R"({"ID": true})",  // wrong types
      R"({"ID": {"x": 1}})",
      R"({"ID": [1]})",
      R"({"ID": 1.5})",
      R"({"ID": 1e300})",
      R"({"ID": null})",
      R"({"ID": ""})",
      R"({"ID": "12abc"})",
      R"({"ID": " 12"})",
      R"({"ID": "+12"})",
      R"({"ID": "99999999999999999999"})",  // huge
      R"({"ID": 18446744073709551615})",
      R"({"ID": 99999999999999999999999})",
      R"({"ID": "0"})",  // not a lease
      R"({"ID": -5})",
      R"({"error":"etcdserver: too many requests","code":8})",
  };
  for (const char* body : bad) {
    auto id = ParseEtcdLeaseGrant(body);
    EXPECT_FALSE(id.ok()) << body << " gave " << *id;
    if (!id.ok()) {
      EXPECT_EQ(id.status().code(), StatusCode::kIoError) << body;
    }
  }
}

TEST(EtcdAnswersTest, KeepAliveReadsTheFirstLineAndTreatsAMissingTtlAsGone) {
  auto ttl = ParseEtcdKeepAlive("{\"result\":{\"ID\":\"1\",\"TTL\":\"7\"}}\n{\"result\":{}}\n");
  ASSERT_TRUE(ttl.ok()) << ttl.status().ToString();
  EXPECT_EQ(*ttl, 7);
  ttl = ParseEtcdKeepAlive(R"({"result":{"ID":"1"}})");
  ASSERT_TRUE(ttl.ok());
  EXPECT_EQ(*ttl, 0);
  ttl = ParseEtcdKeepAlive(R"({"result":{"TTL":"-1"}})");
  ASSERT_TRUE(ttl.ok());
  EXPECT_EQ(*ttl, 0);
}

TEST(EtcdAnswersTest, MalformedKeepAlivesAreErrors) {
  const char* bad[] = {
      "",
      "\n{\"result\":{\"TTL\":\"7\"}}",
      R"({"result":{"TTL":"7")",
      R"({})",
      R"({"result": 7})",
      R"({"result": "x"})",
      R"({"result": [{"TTL": "7"}]})",
      R"({"result":{"TTL": "seven"}})",
      R"({"result":{"TTL": false}})",
      R"({"result":{"TTL": "9223372036854775808"}})",
      R"({"result":{"TTL": 9223372036854775808})",
      R"({"error":{"grpc_code":14,"message":"unavailable"}})",
  };
  for (const char* body : bad) {
    auto ttl = ParseEtcdKeepAlive(body);
    EXPECT_FALSE(ttl.ok()) << body << " gave " << *ttl;
  }
}

std::string Kv(std::string_view key, std::string_view value) {
  return fmt::format(R"({{"key":"{}","value":"{}","mod_revision":"3"}})", Base64Encode(key),
                     Base64Encode(value));
}

TEST(EtcdAnswersTest, RangeDecodesKeysAndValues) {
  const std::string body =
      fmt::format(R"({{"header":{{}},"kvs":[{},{},{{"key":"{}"}}],"count":"3"}})", Kv("/a", "1"),
                  Kv("/b", std::string("\0\xff", 2)), Base64Encode("/c"));
  auto kvs = ParseEtcdRange(body);
  ASSERT_TRUE(kvs.ok()) << kvs.status().ToString();
  ASSERT_EQ(kvs->size(), 3U);
  EXPECT_EQ((*kvs)[0], std::make_pair(std::string("/a"), std::string("1")));
  EXPECT_EQ((*kvs)[1].second, std::string("\0\xff", 2));
  EXPECT_EQ((*kvs)[2], std::make_pair(std::string("/c"), std::string()));  // empty value left out
  kvs = ParseEtcdRange(R"({"header":{"revision":"1"}})");
  ASSERT_TRUE(kvs.ok());
  EXPECT_TRUE(kvs->empty());
}

TEST(EtcdAnswersTest, MalformedRangesAreErrors) {
  const char* bad[] = {
      "",
      "not json",
      R"({"kvs":[{"key":"L2E=","value":"MQ==")",  // truncated
      R"([{"key":"L2E="}])",
      R"({"kvs": {"key":"L2E="}})",
      R"({"kvs": "L2E="})",
      R"({"kvs": [7]})",
      R"({"kvs": [null]})",
      R"({"kvs": [{"value":"MQ=="}]})",  // no key
      R"({"kvs": [{"key": 5}]})",
      R"({"kvs": [{"key": ["L2E="]}]})",
      R"({"kvs": [{"key":"L2E=","value": 1}]})",
      R"({"kvs": [{"key":"L2E=","value": {}}]})",
      R"({"kvs": [{"key":"L2E"}]})",  // invalid base64
      R"({"kvs": [{"key":"L2E=","value":"!!!!"}]})",
      R"({"kvs": [{"key":"L2E=","value":"a==="}]})",
      R"({"kvs": [{"key":"=L2E"}]})",
      R"({"kvs": [{"key":"===="}]})",
      R"({"error":"etcdserver: request timed out","code":14})",
  };
  for (const char* body : bad) {
    auto kvs = ParseEtcdRange(body);
    EXPECT_FALSE(kvs.ok()) << body << " gave " << (kvs.ok() ? kvs->size() : 0) << " pairs";
  }
}

TEST(WorkerRecordTest, WrongTypesAndHugeNumbersAreErrors) {
  const char* bad[] = {
      R"({"id":"w","address":7})",
      R"({"id":["w"],"address":"a:1"})",
      R"({"address":"a:1"})",
      R"({"id":"w","address":"a:1","capacity_bytes":"5"})",
      R"({"id":"w","address":"a:1","capacity_bytes":-1})",
      R"({"id":"w","address":"a:1","capacity_bytes":1.5})",
      R"({"id":"w","address":"a:1","capacity_bytes":184467440737095516150})",
      R"({"id":"w","address":"a:1","start_time_ms":9223372036854775808})",
      R"({"id":"w","address":"a:1","start_time_ms":null})",
      R"(["w","a:1"])",
      R"({"id":"w","address":"a:1")",
  };
  for (const char* text : bad) {
    auto r = WorkerRecord::FromJson(text);
    EXPECT_FALSE(r.ok()) << text;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << text;
    }
  }
  auto r = WorkerRecord::FromJson(
      R"({"id":"w","address":"a:1","capacity_bytes":18446744073709551615,"start_time_ms":9223372036854775807})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->capacity_bytes, 18446744073709551615ULL);
  EXPECT_EQ(r->start_time_ms, 9223372036854775807LL);
}

TEST(WorkerRecordTest, AnIdThatIsNotUtf8DoesNotThrow) {
  const WorkerRecord r{std::string("w-\xff\xfe", 4), "127.0.0.1:1", 0, 0};
  EXPECT_FALSE(r.ToJson().empty());
}

TEST(EtcdClientTest, MalformedAnswersNameTheEndpoint) {
  ScriptedHttpServer server(
      {ScriptedHttpServer::Response(200, R"({"ID": {"oops": 1}, "kvs": "none"})")});
  EtcdClient etcd({server.endpoint()}, milliseconds(2000));
  auto lease = etcd.GrantLease(std::chrono::seconds(5));
  ASSERT_FALSE(lease.ok());
  EXPECT_EQ(lease.status().code(), StatusCode::kIoError);
  EXPECT_NE(lease.status().message().find(server.endpoint()), std::string::npos)
      << lease.status().ToString();
  EXPECT_NE(lease.status().message().find("/v3/lease/grant"), std::string::npos);
  EXPECT_NE(lease.status().message().find("ID"), std::string::npos);

  auto kvs = etcd.GetPrefix("/epochcache/");
  ASSERT_FALSE(kvs.ok());
  EXPECT_NE(kvs.status().message().find(server.endpoint()), std::string::npos);
  EXPECT_NE(kvs.status().message().find("/v3/kv/range"), std::string::npos);
  EXPECT_NE(kvs.status().message().find("kvs is a string"), std::string::npos)
      << kvs.status().ToString();
}

TEST(EtcdViewTest, BadAnswersKeepTheLastGoodViewAndTheThreadAlive) {
  const WorkerRecord w{"w-1", "127.0.0.1:7411", 1, 2};
  const std::string good =
      fmt::format(R"({{"kvs":[{}]}})", Kv("/epochcache/t/workers/w-1", w.ToJson()));
  // The first answer builds the view; every later refresh gets a different malformed answer,
  // then a valid answer with two workers, which the thread must still be alive to take.
  const WorkerRecord w2{"w-2", "127.0.0.1:7412", 1, 2};
  const std::string both =
      fmt::format(R"({{"kvs":[{},{}]}})", Kv("/epochcache/t/workers/w-1", w.ToJson()),
                  Kv("/epochcache/t/workers/w-2", w2.ToJson()));
  std::vector<std::string> script = {ScriptedHttpServer::Response(200, good)};
  for (const char* bad :
       {R"({"kvs": 5})", R"({"kvs": [{"key": 1}]})", R"({"kvs":[{"key":"!!!!"}]})", "{\"kvs\":[",
        "[]", R"({"kvs":[{"key":"L2E=","value":"e30"}]})"}) {
    script.push_back(ScriptedHttpServer::Response(200, bad));
  }
  script.push_back(ScriptedHttpServer::Response(200, both));
  ScriptedHttpServer server(script);

  EtcdOptions options;
  options.endpoints = {server.endpoint()};
  options.cluster = "t";
  options.request_timeout = milliseconds(2000);
  auto view = MakeEtcdView(options, milliseconds(20));
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ((*view)->Workers(), std::vector<WorkerRecord>{w});
  EXPECT_TRUE(testing::EventuallyTrue([&] {
    const std::size_t n = (*view)->Workers().size();
    if (n != 2) {
      EXPECT_EQ(n, 1U);  // the malformed answers changed nothing
    }
    return n == 2;
  }));
  EXPECT_EQ((*view)->Workers(), (std::vector<WorkerRecord>{w, w2}));
  EXPECT_GE(server.requests().size(), script.size());
}

}  // namespace
}  // namespace epochcache
