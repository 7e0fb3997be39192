// The piece-read state machine: a read is split into pieces, each sent to the workers for its
// block in turn (asynchronously, the next attempt starting from the previous one's callback,
// or on the calling thread), and collected in a Batch; pieces no worker could serve are handed
// back for a direct read.
//
// Thread-safety: a Batch is safe to use from many threads; a PieceRead runs one attempt at a
// time, on whichever I/O thread completed the previous one.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "client/http_pool.h"
#include "client/worker_attempts.h"
#include "epochcache/status.h"

namespace epochcache::client {

// A piece of a read: bytes [a, b) of the file, landing in `sink`.
struct Piece {
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  std::span<std::byte> sink;
};

// Collects the outcome of a batch of piece requests.
class Batch {
 public:
  explicit Batch(std::size_t n) : pending_(n) {}

  // Set once a piece has failed: the pieces still waiting for a slot are not sent at all.
  [[nodiscard]] std::shared_ptr<const std::atomic<bool>> cancelled() const { return cancelled_; }
  [[nodiscard]] bool is_cancelled() const { return cancelled_->load(); }

  void Done(Status s);
  // The piece is done with the workers and must be read from the under store directly.
  void NeedsDirect(const Piece& piece, const Status& worker_error);

  // Waits for every piece; the first error that retrying would not fix.
  Status Wait();
  // REQUIRES: Wait() returned.
  std::vector<Piece> TakeDirect();
  // The first worker failure of a piece that went to the under store.
  Status worker_error();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t pending_;        // GUARDED_BY(mu_)
  Status first_error_;         // GUARDED_BY(mu_)
  std::vector<Piece> direct_;  // GUARDED_BY(mu_)
  Status worker_error_;        // GUARDED_BY(mu_)
  const std::shared_ptr<std::atomic<bool>> cancelled_ = std::make_shared<std::atomic<bool>>(false);
};

class LocalReads;
struct Topology;

// What a piece read needs of its client; outlives every piece read (the client waits for its
// batches).
struct PieceReadContext {
  HttpPool& pool;
  std::atomic<std::uint64_t>& worker_errors;
  bool sent_token;
  // Null: no local reads.
  LocalReads* local = nullptr;
};

// What one read asks for: the same for all its pieces.
struct ReadTarget {
  std::string path;
  std::string request_target;  // "/v1/read?path=...&version=..."
  std::uint64_t size = 0;
  std::string version;
};

// Starts reading `piece` through `attempts`; reports to `batch` when done.
void StartPieceRead(const PieceReadContext& context, std::shared_ptr<Batch> batch,
                    WorkerAttempts attempts, Piece piece, std::shared_ptr<const ReadTarget> target);

// Reads `piece` through `attempts` on the calling thread (HttpPool::Fetch), with the same
// walk, checks and report to `batch` as StartPieceRead. A worker of `topology` with a local
// socket is asked there first (client/local_reads.h).
void ReadPieceInline(const PieceReadContext& context, Batch& batch, WorkerAttempts attempts,
                     const Piece& piece, const ReadTarget& target, const Topology& topology);

// Checks a worker's answer to a range request for bytes [a, b) of `target`.
Status CheckPiece(const Result<HttpResponse>& r, const std::string& host, const ReadTarget& target,
                  std::uint64_t a, std::uint64_t b, bool sent_token);

// Whether a failed request is one another worker might not have: the transport failed, or the
// worker answered with a server error. Answers about the request (4xx, changed) are final.
bool IsWorkerFailure(const Result<HttpResponse>& r);

// How a request went for the worker's breaker.
//
// A 503 (with Retry-After: the worker is over one of its limits) deliberately counts as an
// answer: the worker is alive and the overload is momentary and per request, so the request
// goes to the next worker for its key (or the under store) and the worker keeps its breaker
// closed. Opening it would take the busy worker's whole share of keys away for at least
// breaker_backoff (and up to breaker_max_backoff after failed probes), pushing that load onto
// its neighbours, which are the ones most likely to be busy too; a 503 costs one round trip,
// not a timeout, so nothing is gained by skipping it.
Outcome OutcomeOf(const Result<HttpResponse>& r);

}  // namespace epochcache::client
