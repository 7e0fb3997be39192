#include "client/breaker.h"

#include <algorithm>

namespace epochcache::client {

bool CircuitBreakers::Allow(const std::string& address) {
  std::lock_guard lock(mu_);
  auto it = states_.find(address);
  if (it == states_.end()) return true;
  State& st = it->second;
  if (clock_.Now() < st.open_until || st.probing) {
    skips_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  st.probing = true;
  return true;
}

void CircuitBreakers::Success(const std::string& address) {
  std::lock_guard lock(mu_);
  states_.erase(address);
}

void CircuitBreakers::Failure(const std::string& address) {
  std::lock_guard lock(mu_);
  const auto now = clock_.Now();
  auto [it, fresh] = states_.try_emplace(address);
  State& st = it->second;
  if (fresh) {
    st.backoff = initial_;
  } else if (!st.probing && now < st.open_until) {
    return;  // a request sent before the breaker opened: it is open already
  } else {
    st.backoff = std::min(st.backoff * 2, max_);  // a failed probe
  }
  st.probing = false;
  st.open_until = now + st.backoff;
  opens_.fetch_add(1, std::memory_order_relaxed);
}

void CircuitBreakers::Abandon(const std::string& address) {
  std::lock_guard lock(mu_);
  if (auto it = states_.find(address); it != states_.end()) it->second.probing = false;
}

bool CircuitBreakers::IsOpen(const std::string& address) const {
  std::lock_guard lock(mu_);
  auto it = states_.find(address);
  return it != states_.end() && (clock_.Now() < it->second.open_until || it->second.probing);
}

}  // namespace epochcache::client
