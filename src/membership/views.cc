// Client-side membership views: a static list, or etcd refreshed in the background with the
// last good view kept while etcd is unreachable.
#include "membership/views.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <optional>

#include "common/background_loop.h"
#include "epochcache/membership.h"
#include "membership/etcd_client.h"

namespace epochcache {
namespace {

class StaticView final : public MembershipView {
 public:
  explicit StaticView(std::vector<WorkerRecord> workers) : workers_(std::move(workers)) {}
  [[nodiscard]] std::vector<WorkerRecord> Workers() const override { return workers_; }
  [[nodiscard]] std::uint64_t generation() const override { return 1; }

 private:
  const std::vector<WorkerRecord> workers_;
};

Result<std::vector<WorkerRecord>> ReadWorkers(EtcdClient& etcd, const std::string& prefix) {
  EC_ASSIGN_OR_RETURN(auto kvs, etcd.GetPrefix(prefix));
  std::vector<WorkerRecord> out;
  for (const auto& [key, value] : kvs) {
    auto record = WorkerRecord::FromJson(value);
    if (!record.ok()) {
      spdlog::warn("ignoring malformed worker record {}: {}", key, record.status().ToString());
      continue;
    }
    out.push_back(std::move(record).value());
  }
  std::sort(out.begin(), out.end(),
            [](const WorkerRecord& a, const WorkerRecord& b) { return a.id < b.id; });
  return out;
}

class EtcdView final : public MembershipView {
 public:
  EtcdView(const EtcdOptions& options, std::chrono::milliseconds refresh,
           std::vector<WorkerRecord> initial, Clock& clock)
      : prefix_(WorkerKeyPrefix(options.cluster)),
        etcd_(options.endpoints, options.request_timeout),
        workers_(std::move(initial)),
        loop_(clock, refresh, [this, refresh]() -> std::optional<Clock::duration> {
          Refresh();
          return refresh;
        }) {}

  [[nodiscard]] std::vector<WorkerRecord> Workers() const override {
    std::lock_guard lock(mu_);
    return workers_;
  }
  [[nodiscard]] std::uint64_t generation() const override { return generation_.load(); }

 private:
  void Refresh() {
    auto workers = ReadWorkersGuarded();
    if (!workers.ok()) {
      if (!failing_) {
        spdlog::warn("cannot read the workers from etcd, keeping the last known {}: {}",
                     Workers().size(), workers.status().ToString());
      }
      failing_ = true;
      return;
    }
    failing_ = false;
    std::lock_guard lock(mu_);
    if (*workers != workers_) {
      workers_ = std::move(workers).value();
      generation_.fetch_add(1);
    }
  }

  // Answers are parsed without exceptions; this catch is the last guard for what is left
  // (allocation failure), since an exception escaping this thread would end the process.
  Result<std::vector<WorkerRecord>> ReadWorkersGuarded() {
    try {
      return ReadWorkers(etcd_, prefix_);
    } catch (const std::exception& e) {
      return Status::Internal(std::string("refreshing the worker list failed: ") + e.what());
    }
  }

  const std::string prefix_;
  EtcdClient etcd_;
  mutable std::mutex mu_;
  std::vector<WorkerRecord> workers_;  // GUARDED_BY(mu_)
  std::atomic<std::uint64_t> generation_{1};
  bool failing_ = false;  // used by the loop only: warn once per outage
  BackgroundLoop loop_;   // last: starts after everything above is initialised
};

}  // namespace

std::unique_ptr<MembershipView> MakeStaticView(const std::vector<std::string>& hosts) {
  std::vector<WorkerRecord> workers;
  for (const auto& h : hosts) workers.push_back(WorkerRecord{h, h, 0, 0});
  std::sort(workers.begin(), workers.end(),
            [](const WorkerRecord& a, const WorkerRecord& b) { return a.id < b.id; });
  return std::make_unique<StaticView>(std::move(workers));
}

Result<std::unique_ptr<MembershipView>> MakeEtcdView(const EtcdOptions& options,
                                                     std::chrono::milliseconds refresh) {
  return MakeEtcdView(options, refresh, Clock::Real());
}

Result<std::unique_ptr<MembershipView>> MakeEtcdView(const EtcdOptions& options,
                                                     std::chrono::milliseconds refresh,
                                                     Clock& clock) {
  if (options.endpoints.empty()) return Status::InvalidArgument("no etcd endpoints given");
  EtcdClient etcd(options.endpoints, options.request_timeout);
  auto initial = ReadWorkers(etcd, WorkerKeyPrefix(options.cluster));
  if (!initial.ok()) return initial.status().WithContext("reading workers from etcd");
  return std::unique_ptr<MembershipView>(
      std::make_unique<EtcdView>(options, refresh, std::move(initial).value(), clock));
}

}  // namespace epochcache
