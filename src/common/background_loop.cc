#include "common/background_loop.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace epochcache {
namespace {

// The real clock only moves forward at its own pace, so a wait on it ends exactly at its
// deadline. Any other clock (a test's manual clock) may be advanced at any moment by a thread
// that cannot wake this one, so the loop looks at it again this often.
constexpr auto kInjectedClockRecheck = std::chrono::milliseconds(2);

}  // namespace

BackgroundLoop::BackgroundLoop(Clock& clock, Clock::duration first_wait, Step step)
    : clock_(clock),
      step_(std::move(step)),
      thread_([this, first = clock.Now() + first_wait] { Run(first); }) {}

BackgroundLoop::~BackgroundLoop() { Stop(); }

void BackgroundLoop::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BackgroundLoop::Run(Clock::time_point first_deadline) {
  Clock::time_point deadline = first_deadline;
  while (!WaitStopped(deadline)) {
    const Clock::time_point started = clock_.Now();
    const std::optional<Clock::duration> wait = step_();
    if (!wait) return;
    deadline = started + *wait;
  }
}

bool BackgroundLoop::WaitStopped(Clock::time_point deadline) {
  const bool exact = &clock_ == &Clock::Real();
  std::unique_lock lock(mu_);
  for (;;) {
    if (stop_) return true;
    const Clock::time_point now = clock_.Now();
    if (now >= deadline) return false;
    const Clock::duration left = deadline - now;
    cv_.wait_for(lock, exact ? left : std::min<Clock::duration>(left, kInjectedClockRecheck));
  }
}

}  // namespace epochcache
