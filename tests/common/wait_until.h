// Waiting in a test for something another thread does.
#pragma once

#include <chrono>
#include <thread>

namespace epochcache::testing {

// Spins (yielding) until `done()` holds, at most ten seconds; returns whether it held. A bound
// on a hung test, not a timing assumption: the condition normally holds within microseconds.
template <typename Fn>
bool WaitUntil(Fn&& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace epochcache::testing
