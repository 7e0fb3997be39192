// Waiting for something outside the test's control: a real etcd expiring a lease, a server
// noticing a closed connection, the kernel's clock ticking. Such a test cannot be told when the
// condition holds, so it polls for it, with a bound, and asserts on the condition itself; it
// never sleeps a fixed time and hopes. Everything the test controls (threads it hands work to,
// components that take a Clock) is synchronised with latches, futures or a ManualClock instead.
#pragma once

#include <chrono>
#include <thread>

namespace epochcache::testing {

// Polls `pred` until it returns true or `limit` has passed; returns its last answer. `pred` is
// evaluated once more at the end, so a condition that became true at the last moment counts.
template <typename Pred>
[[nodiscard]] bool EventuallyTrue(Pred pred,
                                  std::chrono::milliseconds limit = std::chrono::seconds(10),
                                  std::chrono::milliseconds poll = std::chrono::milliseconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    if (poll.count() == 0) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(poll);
    }
  }
  return pred();
}

// Waits for another thread of this test to reach a state it does not signal (a waiter queued
// inside the code under test): spins, yielding, at most ten seconds; returns whether it held.
// A bound on a hung test, not a timing assumption: it normally holds within microseconds.
template <typename Pred>
[[nodiscard]] bool WaitUntil(Pred pred) {
  return EventuallyTrue(pred, std::chrono::seconds(10), std::chrono::milliseconds(0));
}

}  // namespace epochcache::testing
