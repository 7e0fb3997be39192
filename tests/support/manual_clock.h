// A Clock that moves only when a test says so. SleepFor blocks until another thread advances
// the time past the sleeper's deadline, so a test can hold a component in a wait and release
// it deterministically; AwaitSleepers/AwaitSleeps let the test wait until the component is
// actually waiting, and sleeps() shows how long each wait asked for (a back-off schedule).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <vector>

#include "common/clock.h"

namespace epochcache::testing {

class ManualClock final : public Clock {
 public:
  time_point Now() override {
    std::lock_guard lock(mu_);
    return now_;
  }

  void SleepFor(duration d) override {
    std::unique_lock lock(mu_);
    const time_point until = now_ + d;
    requested_.push_back(d);
    ++sleepers_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return now_ >= until; });
    --sleepers_;
    changed_.notify_all();
  }

  void Advance(duration d) {
    std::lock_guard lock(mu_);
    now_ += d;
    changed_.notify_all();
  }

  // Blocks until at least `n` threads are inside SleepFor.
  void AwaitSleepers(int n) {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return sleepers_ >= n; });
  }

  // Blocks until SleepFor has been called `n` times in all, then returns how long the n-th
  // call asked to sleep; a test advances by that much to release exactly that sleeper.
  duration AwaitSleeps(std::size_t n) {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return requested_.size() >= n; });
    return requested_[n - 1];
  }

  // Every duration SleepFor was asked for, in call order.
  std::vector<duration> sleeps() {
    std::lock_guard lock(mu_);
    return requested_;
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  time_point now_{std::chrono::hours(1)};  // not zero, so "never set" stays distinguishable
  int sleepers_ = 0;
  std::vector<duration> requested_;
};

}  // namespace epochcache::testing
