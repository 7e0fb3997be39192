// A circuit breaker per worker address.
//
// A worker that failed at the transport level (connection refused, timed out, dropped) is
// skipped for a backoff period, so that a dead worker costs one failed request rather than one
// per read. When the period is over, exactly one request is let through as a probe: its success
// closes the breaker, its failure re-opens it with a doubled backoff (up to a maximum). Failures
// of requests that were already in flight when the breaker opened do not extend it.
//
// Thread-safety: safe to use from many threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/clock.h"

namespace epochcache::client {

class CircuitBreakers {
 public:
  // `clock` must outlive the breakers.
  CircuitBreakers(std::chrono::milliseconds backoff, std::chrono::milliseconds max_backoff,
                  Clock& clock)
      : initial_(backoff), max_(max_backoff), clock_(clock) {}

  // Whether a request may go to `address` now. A true answer for a half-open breaker makes
  // that request the probe: the caller must then report Success, Failure or Abandon.
  bool Allow(const std::string& address);
  void Success(const std::string& address);
  void Failure(const std::string& address);
  // The request was not sent after all (cancelled): a probe slot it held is given back.
  void Abandon(const std::string& address);

  // Whether the breaker of `address` is open (skipping) right now.
  [[nodiscard]] bool IsOpen(const std::string& address) const;

  [[nodiscard]] std::uint64_t opens() const { return opens_.load(); }
  [[nodiscard]] std::uint64_t skips() const { return skips_.load(); }

 private:
  struct State {
    Clock::time_point open_until{};
    Clock::duration backoff{};
    bool probing = false;
  };

  const Clock::duration initial_;
  const Clock::duration max_;
  Clock& clock_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, State> states_;  // only workers that failed; GUARDED_BY(mu_)
  std::atomic<std::uint64_t> opens_{0};
  std::atomic<std::uint64_t> skips_{0};
};

}  // namespace epochcache::client
