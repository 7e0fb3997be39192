// Membership against a real etcd server started by the test on 127.0.0.1.
#include "epochcache/membership.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <thread>

#include "membership/etcd_client.h"
#include "support/eventually.h"

namespace epochcache {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::EventuallyTrue;

int FreePort() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

// Runs `etcd` (Debian's etcd-server) with a fresh data dir on free loopback ports.
class EtcdProcess {
 public:
  EtcdProcess() : dir_(fs::temp_directory_path() / fmt::format("ec-etcd-{}", ::getpid())) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    client_port_ = FreePort();
    peer_port_ = FreePort();
    Start();
  }
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;
  ~EtcdProcess() {
    Stop();
    fs::remove_all(dir_);
  }

  void Start() {
    const std::string client = fmt::format("http://127.0.0.1:{}", client_port_);
    const std::string peer = fmt::format("http://127.0.0.1:{}", peer_port_);
    const std::string data = (dir_ / "data").string();
    const std::string log = (dir_ / "etcd.log").string();
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execlp("etcd", "etcd", "--data-dir", data.c_str(), "--listen-client-urls", client.c_str(),
               "--advertise-client-urls", client.c_str(), "--listen-peer-urls", peer.c_str(),
               "--initial-advertise-peer-urls", peer.c_str(), "--initial-cluster",
               ("default=" + peer).c_str(), nullptr);
      ::_exit(127);
    }
    EtcdClient probe({endpoint()}, milliseconds(500));
    ASSERT_TRUE(
        EventuallyTrue([&] { return probe.GetPrefix("/").ok(); }, seconds(10), milliseconds(100)))
        << "etcd did not start; is etcd-server installed?";
  }

  void Stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

  [[nodiscard]] std::string endpoint() const { return fmt::format("127.0.0.1:{}", client_port_); }

 private:
  fs::path dir_;
  int client_port_ = 0;
  int peer_port_ = 0;
  pid_t pid_ = -1;
};

// Holds etcd's client port while etcd is down, so the clients' attempts to reach it can be
// counted: each connection is accepted and closed unanswered, as a dead etcd would leave them.
class DeadEtcdPort {
 public:
  explicit DeadEtcdPort(const std::string& endpoint)
      : acceptor_(io_, Endpoint(endpoint)), thread_([this] { Run(); }) {}
  DeadEtcdPort(const DeadEtcdPort&) = delete;
  DeadEtcdPort& operator=(const DeadEtcdPort&) = delete;
  ~DeadEtcdPort() {
    stop_ = true;
    boost::system::error_code ec;
    boost::asio::ip::tcp::socket poke(io_);  // wakes the blocking accept
    poke.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }

  [[nodiscard]] int attempts() const { return attempts_.load(); }

 private:
  static boost::asio::ip::tcp::endpoint Endpoint(const std::string& endpoint) {
    const auto colon = endpoint.rfind(':');
    return {boost::asio::ip::make_address(endpoint.substr(0, colon)),
            static_cast<std::uint16_t>(std::stoi(endpoint.substr(colon + 1)))};
  }

  void Run() {
    while (!stop_) {
      boost::system::error_code ec;
      boost::asio::ip::tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (!ec && !stop_) ++attempts_;
    }
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<bool> stop_{false};
  std::atomic<int> attempts_{0};
  std::thread thread_;  // last: starts after everything above is initialised
};

EtcdOptions Options(const EtcdProcess& etcd) {
  EtcdOptions o;
  o.endpoints = {"127.0.0.1:1", etcd.endpoint()};  // the first is dead: clients move on
  o.cluster = "test";
  o.lease_ttl = seconds(2);
  o.request_timeout = milliseconds(500);
  return o;
}

TEST(WorkerRecordTest, JsonRoundTripAndBadInput) {
  const WorkerRecord r{"w-1", "127.0.0.1:7411", 1 << 30, 1700000000000};
  auto back = WorkerRecord::FromJson(r.ToJson());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, r);
  EXPECT_FALSE(WorkerRecord::FromJson("{").ok());
  EXPECT_FALSE(WorkerRecord::FromJson(R"({"id": 5})").ok());
  EXPECT_FALSE(WorkerRecord::FromJson(R"({"id": "", "address": "a"})").ok());
}

TEST(WorkerIdTest, StableAcrossCalls) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("ec-id-{}", ::getpid());
  fs::remove_all(dir);
  auto a = LoadOrCreateWorkerId(dir.string());
  auto b = LoadOrCreateWorkerId(dir.string());
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, *b);
  fs::remove_all(dir);
  EXPECT_NE(*LoadOrCreateWorkerId(dir.string()), *a);
  fs::remove_all(dir);
}

TEST(MembershipTest, RegisteredWorkersAppearAndLeave) {
  EtcdProcess etcd;
  auto view = MakeEtcdView(Options(etcd), milliseconds(100));
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_TRUE((*view)->Workers().empty());
  auto a = WorkerRegistration::Start(Options(etcd), {"w-a", "127.0.0.1:1001", 10, 1});
  auto b = WorkerRegistration::Start(Options(etcd), {"w-b", "127.0.0.1:1002", 20, 2});
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(EventuallyTrue([&] { return (*view)->Workers().size() == 2; }));
  EXPECT_EQ((*view)->Workers()[0].address, "127.0.0.1:1001");
  EXPECT_TRUE((*a)->registered());
  // A clean stop revokes the lease: the worker disappears at once, not after the TTL.
  const auto gen = (*view)->generation();
  a->reset();
  ASSERT_TRUE(EventuallyTrue([&] { return (*view)->Workers().size() == 1; }, milliseconds(1500)));
  EXPECT_GT((*view)->generation(), gen);
  EXPECT_EQ((*view)->Workers()[0].id, "w-b");
}

TEST(MembershipTest, ViewKeepsLastGoodListWhileEtcdIsDownAndWorkersReRegister) {
  auto etcd = std::make_unique<EtcdProcess>();
  auto view = MakeEtcdView(Options(*etcd), milliseconds(100));
  ASSERT_TRUE(view.ok());
  auto reg = WorkerRegistration::Start(Options(*etcd), {"w-a", "127.0.0.1:1001", 10, 1});
  ASSERT_TRUE(reg.ok());
  ASSERT_TRUE(EventuallyTrue([&] { return (*view)->Workers().size() == 1; }));
  etcd->Stop();
  {
    // The view refreshes every 100 ms: wait until it has failed to reach etcd several times
    // (counted at etcd's port, not guessed from a sleep), then look at what it kept.
    DeadEtcdPort dead(etcd->endpoint());
    ASSERT_TRUE(EventuallyTrue([&] { return dead.attempts() >= 10; }))
        << "only " << dead.attempts() << " attempts to reach etcd";
    EXPECT_EQ((*view)->Workers().size(), 1U) << "the last good view must survive etcd being down";
  }
  // etcd comes back (same data dir): the worker is registered again (its lease renewed, or a
  // new one granted if the old one ran out) and the view follows.
  etcd->Start();
  ASSERT_TRUE(EventuallyTrue([&] { return (*reg)->registered(); }, milliseconds(15000)));
  ASSERT_TRUE(EventuallyTrue([&] { return (*view)->Workers().size() == 1; }));
}

TEST(MembershipTest, CannotCreateAViewWithoutEtcd) {
  EtcdOptions o;
  o.endpoints = {"127.0.0.1:1"};
  o.request_timeout = milliseconds(300);
  EXPECT_FALSE(MakeEtcdView(o).ok());
  EXPECT_FALSE(WorkerRegistration::Start({}, {"w", "a", 0, 0}).ok());
}

TEST(StaticViewTest, ListsHostsAsWorkers) {
  auto view = MakeStaticView({"127.0.0.1:2", "127.0.0.1:1"});
  ASSERT_EQ(view->Workers().size(), 2U);
  EXPECT_EQ(view->Workers()[0].id, "127.0.0.1:1");
}

}  // namespace
}  // namespace epochcache
