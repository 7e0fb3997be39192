// Worker registration: grant a lease, put the record under it, keep the lease alive; when the
// lease is lost (etcd was unreachable for longer than its TTL), grant a new one and put again.
#include "membership/registration.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <optional>

#include "common/background_loop.h"
#include "epochcache/membership.h"
#include "membership/etcd_client.h"

namespace epochcache {
namespace {

class EtcdRegistration final : public WorkerRegistration {
 public:
  EtcdRegistration(EtcdOptions options, WorkerRecord record, Clock& clock)
      : options_(std::move(options)),
        record_(std::move(record)),
        key_(WorkerKeyPrefix(options_.cluster) + record_.id),
        renew_interval_(std::max(
            std::chrono::milliseconds(200),
            std::chrono::duration_cast<std::chrono::milliseconds>(options_.lease_ttl) / 3)),
        etcd_(options_.endpoints, options_.request_timeout),
        // At once: clients should find a new worker without waiting a keep-alive period.
        loop_(clock, Clock::duration::zero(), [this] { return Step(); }) {}

  ~EtcdRegistration() override {
    loop_.Stop();
    if (lease_ != 0) {
      // Leave at once rather than when the lease runs out.
      if (auto s = etcd_.Revoke(lease_); !s.ok()) {
        spdlog::warn("could not revoke etcd lease on exit: {}", s.ToString());
      }
    }
  }

  [[nodiscard]] bool registered() const override { return registered_.load(); }

 private:
  // Registers while there is no lease (retrying every 500 ms), renews it while there is.
  std::optional<Clock::duration> Step() {
    Guarded([this] { Renew(); });
    if (lease_ == 0) return std::chrono::milliseconds(500);
    return renew_interval_;
  }

  // etcd answers are parsed without exceptions; this catch is the last guard for what is left
  // (allocation failure), since an exception escaping this thread would end the worker.
  template <typename F>
  void Guarded(F step) {
    try {
      step();
    } catch (const std::exception& e) {
      spdlog::error("etcd registration of worker {}: {}", record_.id, e.what());
    }
  }

  void Renew() {
    if (lease_ == 0) {
      Register();
      return;
    }
    auto ttl = etcd_.KeepAlive(lease_);
    if (ttl.ok() && *ttl > 0) return;
    if (ttl.ok()) {
      spdlog::warn("etcd lease of worker {} expired; registering again", record_.id);
      lease_ = 0;
      registered_ = false;
      Register();
    } else if (registered_) {
      // etcd unreachable: etcd drops the record when the lease runs out; we retry meanwhile.
      spdlog::warn("cannot renew etcd lease of worker {}: {}", record_.id, ttl.status().ToString());
    }
  }

  void Register() {
    auto lease = etcd_.GrantLease(options_.lease_ttl);
    if (!lease.ok()) {
      if (!warned_) spdlog::warn("cannot register in etcd yet: {}", lease.status().ToString());
      warned_ = true;
      return;
    }
    if (auto s = etcd_.Put(key_, record_.ToJson(), *lease); !s.ok()) {
      spdlog::warn("cannot put worker record in etcd: {}", s.ToString());
      return;
    }
    lease_ = *lease;
    registered_ = true;
    warned_ = false;
    spdlog::info("registered in etcd as {} ({}) under {}", record_.id, record_.address, key_);
  }

  const EtcdOptions options_;
  const WorkerRecord record_;
  const std::string key_;
  const std::chrono::milliseconds renew_interval_;
  EtcdClient etcd_;
  std::int64_t lease_ = 0;  // used by the loop only, then by the destructor after it stopped
  bool warned_ = false;
  std::atomic<bool> registered_{false};
  BackgroundLoop loop_;  // last: starts after everything above is initialised
};

}  // namespace

Result<std::unique_ptr<WorkerRegistration>> WorkerRegistration::Start(EtcdOptions options,
                                                                      WorkerRecord record) {
  return StartRegistration(std::move(options), std::move(record), Clock::Real());
}

Result<std::unique_ptr<WorkerRegistration>> StartRegistration(EtcdOptions options,
                                                              WorkerRecord record, Clock& clock) {
  if (options.endpoints.empty()) return Status::InvalidArgument("no etcd endpoints given");
  if (record.id.empty() || record.address.empty()) {
    return Status::InvalidArgument("a worker record needs an id and an address");
  }
  if (options.lease_ttl < std::chrono::seconds(1)) {
    return Status::InvalidArgument("the etcd lease TTL must be at least 1 s");
  }
  return std::unique_ptr<WorkerRegistration>(
      std::make_unique<EtcdRegistration>(std::move(options), std::move(record), clock));
}

}  // namespace epochcache
