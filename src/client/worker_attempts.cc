#include "client/worker_attempts.h"

#include <fmt/format.h>

#include <utility>

namespace epochcache::client {

WorkerAttempts::WorkerAttempts(std::vector<std::string> candidates, CircuitBreakers& breakers,
                               bool can_fall_back, std::string path, Status no_workers,
                               std::atomic<std::uint64_t>* failovers)
    : candidates_(std::move(candidates)),
      breakers_(breakers),
      can_fall_back_(can_fall_back),
      path_(std::move(path)),
      no_workers_(std::move(no_workers)),
      failovers_(failovers) {}

std::optional<std::string> WorkerAttempts::Next() {
  for (;;) {
    while (next_ < candidates_.size()) {
      const std::string& host = candidates_[next_++];
      if (!forced_ && !breakers_.Allow(host)) {
        if (skipped_.ok()) {
          skipped_ = Status::Unavailable(
              fmt::format("{}: worker {} is skipped after recent failures", path_, host));
        }
        continue;
      }
      if (attempts_++ > 0 && failovers_ != nullptr) {
        failovers_->fetch_add(1, std::memory_order_relaxed);
      }
      return host;
    }
    if (attempts_ > 0 || forced_ || can_fall_back_ || candidates_.empty()) {
      exhausted_ = true;
      return std::nullopt;
    }
    forced_ = true;
    next_ = 0;
  }
}

void WorkerAttempts::Report(const std::string& host, Outcome outcome) {
  switch (outcome) {
    case Outcome::kAnswered:
      return breakers_.Success(host);
    case Outcome::kUnreachable:
      return breakers_.Failure(host);
    case Outcome::kNotSent:
      return breakers_.Abandon(host);
  }
}

void WorkerAttempts::Failed(Status why) { failure_ = std::move(why); }

const Status& WorkerAttempts::error() const {
  if (!failure_.ok()) return failure_;
  if (!skipped_.ok()) return skipped_;
  return no_workers_;
}

}  // namespace epochcache::client
