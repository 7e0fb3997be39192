#include "membership/seeded_etcd_view.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

namespace epochcache {
namespace {

class SeededEtcdView final : public MembershipView {
 public:
  SeededEtcdView(EtcdOptions options, std::chrono::milliseconds refresh,
                 std::vector<WorkerRecord> seed)
      : options_(std::move(options)), refresh_(refresh), seed_(std::move(seed)) {
    std::sort(seed_.begin(), seed_.end(),
              [](const WorkerRecord& a, const WorkerRecord& b) { return a.id < b.id; });
    thread_ = std::thread([this] { Run(); });
  }

  ~SeededEtcdView() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  SeededEtcdView(const SeededEtcdView&) = delete;
  SeededEtcdView& operator=(const SeededEtcdView&) = delete;

  [[nodiscard]] std::vector<WorkerRecord> Workers() const override {
    if (ready_.load(std::memory_order_acquire)) return inner_->Workers();
    return seed_;
  }

  [[nodiscard]] std::uint64_t generation() const override {
    // Generations of the etcd view start at 1: offset them past the seed's.
    if (ready_.load(std::memory_order_acquire)) return kEtcdGenerations + inner_->generation();
    return 1;
  }

 private:
  static constexpr std::uint64_t kEtcdGenerations = std::uint64_t{1} << 32;

  void Run() {
    for (;;) {
      {
        std::unique_lock lock(mu_);
        if (cv_.wait_for(lock, refresh_, [this] { return stop_; })) return;
      }
      auto view = MakeEtcdView(options_, refresh_);
      if (view.ok()) {
        inner_ = std::move(view).value();
        ready_.store(true, std::memory_order_release);
        return;
      }
    }
  }

  const EtcdOptions options_;
  const std::chrono::milliseconds refresh_;
  std::vector<WorkerRecord> seed_;
  std::unique_ptr<MembershipView> inner_;  // written once, before ready_
  std::atomic<bool> ready_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace

std::unique_ptr<MembershipView> MakeSeededEtcdView(EtcdOptions options,
                                                   std::chrono::milliseconds refresh,
                                                   std::vector<WorkerRecord> seed) {
  return std::make_unique<SeededEtcdView>(std::move(options), refresh, std::move(seed));
}

}  // namespace epochcache
