#include "client/fork_count.h"

#include <pthread.h>

#include <atomic>
#include <limits>

namespace epochcache::client {
namespace {

std::atomic<std::uint64_t> fork_count{0};

}  // namespace

std::uint64_t ForkCount() {
  // Registered before the first pool exists, so no later fork goes uncounted.
  static const int registered = ::pthread_atfork(
      nullptr, nullptr, [] { fork_count.fetch_add(1, std::memory_order_relaxed); });
  if (registered != 0) return std::numeric_limits<std::uint64_t>::max();
  return fork_count.load(std::memory_order_relaxed);
}

bool ForkGuard::Forked() const {
  const std::uint64_t now = ForkCount();
  return now != forks_ || now == std::numeric_limits<std::uint64_t>::max();
}

}  // namespace epochcache::client
