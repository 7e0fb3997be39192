// The one walk through the workers for a key, used by every client call: the owner first,
// then its successors in Rank order (at most max_workers_per_key of them), skipping workers
// whose breaker is open, and then the decision of what comes after the workers.
//
// When every candidate was skipped by its breaker and there is no under store to fall back
// to, the candidates are asked anyway (a second, forced pass): a possibly dead worker is the
// only way left to answer. With an under store, exhausting the workers means reading it
// directly.
//
// Each worker that Next() returns was let through by its breaker (or forced): the caller
// reports how the request went with Report(), which feeds the breaker.
//
// Thread-safety: one walk is used by one request at a time (it may move between threads, as
// an asynchronous read does); the breakers it shares are thread-safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "client/breaker.h"
#include "epochcache/status.h"

namespace epochcache::client {

// How a request to a worker ended, as far as its breaker is concerned.
enum class Outcome {
  kAnswered,     // the worker answered (whatever it said): it is alive
  kUnreachable,  // refused, timed out, dropped: the breaker counts it
  kNotSent,      // cancelled before it went out: a probe slot it held is given back
};

class WorkerAttempts {
 public:
  // `candidates` are worker addresses, owner first. `no_workers` is the error when there is
  // no candidate at all. `failovers`, when set, counts every attempt after the first.
  WorkerAttempts(std::vector<std::string> candidates, CircuitBreakers& breakers, bool can_fall_back,
                 std::string path, Status no_workers,
                 std::atomic<std::uint64_t>* failovers = nullptr);

  // The next worker to ask, or nothing when the workers are done with.
  std::optional<std::string> Next();
  // Feeds the breaker of `host` (a worker Next() returned).
  void Report(const std::string& host, Outcome outcome);
  // Records why the last worker failed (a transport failure or a server error), for error().
  void Failed(Status why);

  // Whether to read the under store directly: only once Next() has run out of workers. A
  // final answer (4xx, a worker that failed TLS verification) ends the attempts without
  // exhausting them, and is never read around.
  [[nodiscard]] bool FallBack() const { return can_fall_back_ && exhausted_; }
  // Why the workers could not answer: the last failure, else why workers were skipped, else
  // that there were none.
  [[nodiscard]] const Status& error() const;
  [[nodiscard]] std::size_t attempts() const { return attempts_; }

 private:
  const std::vector<std::string> candidates_;
  CircuitBreakers& breakers_;
  const bool can_fall_back_;
  bool exhausted_ = false;  // Next() returned nullopt
  const std::string path_;
  const Status no_workers_;
  std::atomic<std::uint64_t>* const failovers_;
  std::size_t next_ = 0;
  std::size_t attempts_ = 0;
  bool forced_ = false;
  Status failure_;
  Status skipped_;
};

}  // namespace epochcache::client
