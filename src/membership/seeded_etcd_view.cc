#include "membership/seeded_etcd_view.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <utility>

#include "common/background_loop.h"
#include "membership/views.h"

namespace epochcache {
namespace {

class SeededEtcdView final : public MembershipView {
 public:
  SeededEtcdView(EtcdOptions options, std::chrono::milliseconds refresh,
                 std::vector<WorkerRecord> seed, Clock& clock)
      : options_(std::move(options)),
        refresh_(refresh),
        clock_(clock),
        seed_(Sorted(std::move(seed))),
        loop_(clock, refresh, [this] { return TryEtcd(); }) {}

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

  static std::vector<WorkerRecord> Sorted(std::vector<WorkerRecord> workers) {
    std::sort(workers.begin(), workers.end(),
              [](const WorkerRecord& a, const WorkerRecord& b) { return a.id < b.id; });
    return workers;
  }

  // One attempt at etcd; ends the loop once it answered.
  std::optional<Clock::duration> TryEtcd() {
    auto view = MakeEtcdView(options_, refresh_, clock_);
    if (!view.ok()) return refresh_;
    inner_ = std::move(view).value();
    ready_.store(true, std::memory_order_release);
    return std::nullopt;
  }

  const EtcdOptions options_;
  const std::chrono::milliseconds refresh_;
  Clock& clock_;
  const std::vector<WorkerRecord> seed_;
  std::unique_ptr<MembershipView> inner_;  // written once, before ready_
  std::atomic<bool> ready_{false};
  BackgroundLoop loop_;  // last: starts after everything above is initialised
};

}  // namespace

std::unique_ptr<MembershipView> MakeSeededEtcdView(EtcdOptions options,
                                                   std::chrono::milliseconds refresh,
                                                   std::vector<WorkerRecord> seed, Clock& clock) {
  return std::make_unique<SeededEtcdView>(std::move(options), refresh, std::move(seed), clock);
}

}  // namespace epochcache
