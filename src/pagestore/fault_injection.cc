#include "pagestore/fault_injection.h"

#include <atomic>

namespace epochcache::pagestore {
namespace {

std::atomic<int> g_error{0};
std::atomic<int> g_remaining{0};

}  // namespace

ScopedWriteFault::ScopedWriteFault(int error, int count) {
  g_error.store(error);
  g_remaining.store(count);
}

ScopedWriteFault::~ScopedWriteFault() {
  g_remaining.store(0);
  g_error.store(0);
}

int TakeWriteFault() {
  if (g_remaining.load(std::memory_order_relaxed) <= 0) return 0;
  if (g_remaining.fetch_sub(1) <= 0) return 0;
  return g_error.load();
}

}  // namespace epochcache::pagestore
