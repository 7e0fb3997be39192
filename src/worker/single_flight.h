// Single-flight: concurrent callers asking for the same key share one execution of the work.
//
// Used for page misses: when 32 readers miss the same cold page at once, the under store is
// read once and the other 31 wait for that result instead of each paying a remote read.
//
// Thread-safety: safe to use from many threads at once.
#pragma once

#include <chrono>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "epochcache/status.h"

namespace epochcache::worker {

template <typename Value>
class SingleFlight {
 public:
  // If no call for `key` is in flight, runs `fn()` (returning Result<Value>) on this thread
  // and hands its result to every caller that joined meanwhile. Otherwise waits for the
  // in-flight call, at most `wait_bound`, and returns its result (Timeout past the bound).
  // `*joined` (if not null) is set to whether this caller waited rather than ran `fn`.
  // The key is released before waiters wake, so a call that starts after a flight has finished
  // runs `fn` again: callers re-check their cache first.
  template <typename Fn>
  Result<Value> Do(const std::string& key, std::chrono::milliseconds wait_bound, Fn&& fn,
                   bool* joined = nullptr) {
    std::promise<Result<Value>> promise;
    std::shared_future<Result<Value>> future;
    bool leader = false;
    {
      std::lock_guard lock(mu_);
      auto it = flights_.find(key);
      if (it != flights_.end()) {
        future = it->second.future;
        ++it->second.waiters;
      } else {
        future = promise.get_future().share();
        flights_.emplace(key, Flight{future, 0});
        leader = true;
      }
    }
    if (joined != nullptr) *joined = !leader;
    if (!leader) {
      if (future.wait_for(wait_bound) != std::future_status::ready) {
        return Status::Timeout("waited too long for a concurrent fetch of " + key);
      }
      return future.get();
    }
    Result<Value> result = Status::Internal("single-flight: no result");
    try {
      result = fn();
    } catch (const std::exception& e) {
      result = Status::Internal(std::string("fetch of ") + key + " failed: " + e.what());
    }
    {
      std::lock_guard lock(mu_);
      flights_.erase(key);
    }
    promise.set_value(result);
    return result;
  }

  // Number of keys in flight now (for tests).
  std::size_t in_flight() const {
    std::lock_guard lock(mu_);
    return flights_.size();
  }

  // Number of callers that joined the flight of `key` now in progress (for tests: a test can
  // hold the leader until every caller has joined, without sleeping).
  std::size_t waiters(const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = flights_.find(key);
    return it == flights_.end() ? 0 : it->second.waiters;
  }

 private:
  struct Flight {
    std::shared_future<Result<Value>> future;
    std::size_t waiters = 0;
  };

  mutable std::mutex mu_;
  std::unordered_map<std::string, Flight> flights_;  // GUARDED_BY(mu_)
};

}  // namespace epochcache::worker
