// The worker's registration loop against a scripted etcd, stepped with a manual clock: it
// registers at once, renews once per third of the lease TTL on the clock, registers again when
// etcd says the lease is gone, and revokes the lease when it stops.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../understore/scripted_http_server.h"
#include "membership/registration.h"
#include "support/eventually.h"
#include "support/manual_clock.h"

namespace epochcache {
namespace {

using std::chrono::seconds;
using testing::ScriptedHttpServer;
using testing::WaitUntil;

// A scripted etcd that logs the call (the path of the request line) and answers it.
class FakeEtcd {
 public:
  FakeEtcd()
      : server_([this](const std::string& request) {
          const auto start = request.find(' ') + 1;
          const std::string path = request.substr(start, request.find(' ', start) - start);
          std::lock_guard lock(mu_);
          calls_.push_back(path);
          if (path == "/v3/lease/grant") {
            return ScriptedHttpServer::Response(200, R"({"ID":"7","TTL":"3"})");
          }
          if (path == "/v3/lease/keepalive") {
            const char* ttl = lease_gone_ ? "{\"result\":{\"ID\":\"7\"}}"
                                          : "{\"result\":{\"ID\":\"7\",\"TTL\":\"3\"}}";
            return ScriptedHttpServer::Response(200, ttl);
          }
          return ScriptedHttpServer::Response(200, "{}");
        }) {}

  std::string endpoint() const { return server_.endpoint(); }
  std::vector<std::string> calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  void LoseLease() {
    std::lock_guard lock(mu_);
    lease_gone_ = true;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> calls_;  // GUARDED_BY(mu_)
  bool lease_gone_ = false;         // GUARDED_BY(mu_)
  ScriptedHttpServer server_;       // last: answers only once the above exist
};

TEST(RegistrationRenewalTest, RegistersAtOnceRenewsOnTheClockAndRevokesOnStop) {
  FakeEtcd etcd;
  testing::ManualClock clock;
  EtcdOptions options;
  options.endpoints = {etcd.endpoint()};
  options.cluster = "t";
  options.lease_ttl = seconds(3);  // renewals every second
  auto reg = StartRegistration(options, WorkerRecord{"w-1", "127.0.0.1:7411", 1, 2}, clock);
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  ASSERT_TRUE(WaitUntil([&] { return (*reg)->registered(); }));
  using Calls = std::vector<std::string>;
  EXPECT_EQ(etcd.calls(), (Calls{"/v3/lease/grant", "/v3/kv/put"}));

  // Renewals come once per second of the clock, and not before.
  clock.Advance(std::chrono::milliseconds(999));
  clock.Advance(std::chrono::milliseconds(1));
  ASSERT_TRUE(WaitUntil([&] { return etcd.calls().size() == 3; }));
  EXPECT_EQ(etcd.calls().back(), "/v3/lease/keepalive");
  clock.Advance(seconds(1));
  ASSERT_TRUE(WaitUntil([&] { return etcd.calls().size() == 4; }));

  // etcd forgot the lease: the next renewal registers again, under a new lease.
  etcd.LoseLease();
  clock.Advance(seconds(1));
  ASSERT_TRUE(WaitUntil([&] { return etcd.calls().size() == 7; }));
  EXPECT_EQ(etcd.calls(),
            (Calls{"/v3/lease/grant", "/v3/kv/put", "/v3/lease/keepalive", "/v3/lease/keepalive",
                   "/v3/lease/keepalive", "/v3/lease/grant", "/v3/kv/put"}));
  EXPECT_TRUE(WaitUntil([&] { return (*reg)->registered(); }));

  // Stopping revokes the lease at once, without waiting out a period.
  reg->reset();
  EXPECT_EQ(etcd.calls().back(), "/v3/lease/revoke");
  EXPECT_EQ(etcd.calls().size(), 8U);
}

}  // namespace
}  // namespace epochcache
