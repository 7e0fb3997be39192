#include "client/piece_read.h"

#include <fmt/format.h>

#include <optional>
#include <utility>

#include "client/content_range.h"
#include "client/local_reads.h"
#include "client/worker_answers.h"

namespace epochcache::client {
namespace {

HttpRequest RequestFor(const Batch& batch, const Piece& piece, const ReadTarget& target) {
  return HttpRequest{.target = target.request_target,
                     .range = std::make_pair(piece.a, piece.b - 1),
                     .cancelled = batch.cancelled()};
}

// Settles one attempt at `piece` on `host`: reports to the breaker and, unless another worker
// should be tried (the answer is returned then), to `batch`.
std::optional<Status> Settle(const PieceReadContext& context, Batch& batch,
                             WorkerAttempts& attempts, const std::string& host,
                             const Result<HttpResponse>& r, const Piece& piece,
                             const ReadTarget& target) {
  const Outcome outcome = OutcomeOf(r);
  attempts.Report(host, outcome);
  if (outcome == Outcome::kNotSent) {
    batch.Done(r.status());
    return std::nullopt;
  }
  Status s = CheckPiece(r, host, target, piece.a, piece.b, context.sent_token);
  if (s.ok()) {
    batch.Done(Status::Ok());
    return std::nullopt;
  }
  const bool worker_failure =
      IsWorkerFailure(r) || (r.ok() && r->status / 100 == 2 && s.code() == StatusCode::kIoError);
  if (!worker_failure || batch.is_cancelled()) {
    batch.Done(std::move(s));
    return std::nullopt;
  }
  context.worker_errors.fetch_add(1, std::memory_order_relaxed);
  return s;
}

// The workers are done with: the piece goes to the under store, or fails.
void GiveUp(Batch& batch, const WorkerAttempts& attempts, const Piece& piece) {
  if (attempts.FallBack()) return batch.NeedsDirect(piece, attempts.error());
  batch.Done(attempts.error());
}

class PieceRead : public std::enable_shared_from_this<PieceRead> {
 public:
  PieceRead(const PieceReadContext& context, std::shared_ptr<Batch> batch, WorkerAttempts attempts,
            Piece piece, std::shared_ptr<const ReadTarget> target)
      : context_(context),
        batch_(std::move(batch)),
        attempts_(std::move(attempts)),
        piece_(piece),
        target_(std::move(target)) {}

  void Next() {
    auto host = attempts_.Next();
    if (!host) return GiveUp(*batch_, attempts_, piece_);
    context_.pool.AsyncGet(*host, RequestFor(*batch_, piece_, *target_), piece_.sink,
                           [self = shared_from_this(), host = *host](
                               const Result<HttpResponse>& r) { self->OnResponse(host, r); });
  }

 private:
  void OnResponse(const std::string& host, const Result<HttpResponse>& r) {
    auto failed = Settle(context_, *batch_, attempts_, host, r, piece_, *target_);
    if (!failed) return;
    attempts_.Failed(*std::move(failed));
    Next();
  }

  const PieceReadContext& context_;
  const std::shared_ptr<Batch> batch_;
  WorkerAttempts attempts_;
  const Piece piece_;
  const std::shared_ptr<const ReadTarget> target_;
};

}  // namespace

void Batch::Done(Status s) {
  std::lock_guard lock(mu_);
  const bool dropped = s.code() == StatusCode::kRejected && cancelled_->load();
  if (!s.ok() && !dropped) {
    // A real error outranks "changed": retrying would not fix it.
    if (first_error_.ok() ||
        (first_error_.code() == StatusCode::kChanged && s.code() != StatusCode::kChanged)) {
      first_error_ = std::move(s);
    }
    cancelled_->store(true);
  }
  if (--pending_ == 0) cv_.notify_all();
}

void Batch::NeedsDirect(const Piece& piece, const Status& worker_error) {
  std::lock_guard lock(mu_);
  direct_.push_back(piece);
  if (worker_error_.ok()) worker_error_ = worker_error;
  if (--pending_ == 0) cv_.notify_all();
}

Status Batch::Wait() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return pending_ == 0; });
  return first_error_;
}

std::vector<Piece> Batch::TakeDirect() {
  std::lock_guard lock(mu_);
  return std::move(direct_);
}

Status Batch::worker_error() {
  std::lock_guard lock(mu_);
  return worker_error_;
}

void StartPieceRead(const PieceReadContext& context, std::shared_ptr<Batch> batch,
                    WorkerAttempts attempts, Piece piece,
                    std::shared_ptr<const ReadTarget> target) {
  std::make_shared<PieceRead>(context, std::move(batch), std::move(attempts), piece,
                              std::move(target))
      ->Next();
}

void ReadPieceInline(const PieceReadContext& context, Batch& batch, WorkerAttempts attempts,
                     const Piece& piece, const ReadTarget& target, const Topology& topology) {
  while (auto host = attempts.Next()) {
    if (context.local != nullptr) {
      const auto local = context.local->TryRead(topology, *host, target, piece);
      // Only an answer of the worker's says anything about it to its breaker.
      if (local == LocalReads::Outcome::kAnswered) attempts.Report(*host, Outcome::kAnswered);
      if (local != LocalReads::Outcome::kDeclined) {
        batch.Done(Status::Ok());
        return;
      }
    }
    const auto r = context.pool.Fetch(*host, RequestFor(batch, piece, target), piece.sink);
    auto failed = Settle(context, batch, attempts, *host, r, piece, target);
    if (!failed) return;
    attempts.Failed(*std::move(failed));
  }
  GiveUp(batch, attempts, piece);
}

bool IsWorkerFailure(const Result<HttpResponse>& r) {
  if (!r.ok()) {
    // kRejected: never sent; kUnauthenticated: the worker failed TLS verification (final).
    return r.status().code() != StatusCode::kRejected &&
           r.status().code() != StatusCode::kUnauthenticated;
  }
  return r->status >= 500;
}

Outcome OutcomeOf(const Result<HttpResponse>& r) {
  if (r.ok()) return Outcome::kAnswered;
  return r.status().code() == StatusCode::kRejected ? Outcome::kNotSent : Outcome::kUnreachable;
}

Status CheckPiece(const Result<HttpResponse>& r, const std::string& host, const ReadTarget& target,
                  std::uint64_t a, std::uint64_t b, bool sent_token) {
  const std::string& path = target.path;
  if (!r.ok()) return r.status().WithContext(path);
  if (r->status != 206) {
    if (r->status / 100 == 2) {
      return Status::IoError(
          fmt::format("{}: worker {} answered HTTP {} to a range request", path, host, r->status));
    }
    return ErrorFromAnswer(r->status, r->body, host, path, sent_token);
  }
  const auto range = ParseContentRange(r->content_range);
  if (!range) {
    return Status::IoError(
        fmt::format("{}: worker {} sent a bad Content-Range '{}'", path, host, r->content_range));
  }
  if (range->size != target.size || (!r->version.empty() && r->version != target.version)) {
    return Status::Changed(fmt::format("{}: size or version changed during the read", path));
  }
  if (range->first != a || range->last != b - 1 || r->sink_bytes != b - a) {
    return Status::IoError(
        fmt::format("{}: worker {} answered bytes {}-{} ({} received) to a request for {}-{}", path,
                    host, range->first, range->last, r->sink_bytes, a, b - 1));
  }
  return Status::Ok();
}

}  // namespace epochcache::client
