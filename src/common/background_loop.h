// A background thread that repeats a step with waits in between, and stops at once when asked:
// the membership refresh, the worker's etcd registration and the client's seeded view all run
// on one.
//
// Waits are measured on the injected Clock, so a test steps a loop with a manual clock instead
// of sleeping. Stopping never waits out a period: it ends the wait at once and waits only for a
// step that is running.
//
// Thread-safety: Stop() may be called from any thread but the loop's own (not from the step);
// Stop() and the destructor must not run concurrently with each other.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "common/clock.h"

namespace epochcache {

class BackgroundLoop {
 public:
  // What a step returns: how long to wait before the next step, or nullopt to end the loop.
  using Step = std::function<std::optional<Clock::duration>()>;

  // Starts the thread: it waits `first_wait` (zero: runs the first step at once), runs `step`,
  // waits what the step returned, and so on until the step returns nullopt or the loop is
  // stopped. A wait counts from the start of the step that asked for it, so a slow step does not
  // stretch the period (a lease keep-alive stays on time). `step` must not throw. `clock` must
  // outlive the loop.
  BackgroundLoop(Clock& clock, Clock::duration first_wait, Step step);
  ~BackgroundLoop();  // Stop()

  BackgroundLoop(const BackgroundLoop&) = delete;
  BackgroundLoop& operator=(const BackgroundLoop&) = delete;

  // Ends the current wait, lets a running step finish, and joins the thread. Idempotent.
  void Stop();

 private:
  void Run(Clock::time_point first_deadline);
  // Waits until `deadline` on the clock; returns true when stopped meanwhile.
  bool WaitStopped(Clock::time_point deadline);

  Clock& clock_;
  const Step step_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;   // GUARDED_BY(mu_)
  std::thread thread_;  // last: starts after everything above is initialised
};

}  // namespace epochcache
