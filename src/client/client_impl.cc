// The client's calls: each asks the workers for its key through one WorkerAttempts walk and
// falls back to the under store when they are exhausted; reads go piece by piece
// (piece_read.h) and retry a changed file under the one policy of changed_retry.h.
#include "client/client_impl.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <optional>
#include <utility>

#include "client/breaker.h"
#include "client/changed_retry.h"
#include "client/direct_read.h"
#include "client/local_reads.h"
#include "client/piece_read.h"
#include "client/placement_view.h"
#include "client/task_pool.h"
#include "client/worker_answers.h"
#include "client/worker_attempts.h"
#include "common/metadata_cache.h"
#include "epochcache/placement.h"
#include "protocol/error_json.h"
#include "protocol/file_status_json.h"
#include "protocol/target.h"
#include "protocol/wire.h"

namespace epochcache::client {
namespace {

// Under-store reads in flight at once, across all reads of one client that fall back to it.
constexpr std::size_t kDirectReadThreads = 8;
// A listing longer than this many pages (ten million entries at the workers' default page
// size) is taken for a worker stuck in a loop.
constexpr std::size_t kMaxListPages = 10000;

Status BadAnswer(std::string_view host, std::string_view path, const Status& why) {
  return Status::IoError(
      fmt::format("{}: worker {} sent a malformed answer: {}", path, host, why.message()));
}

// The workers failed and so did the direct read. An answer from the under store about the
// request (not found, permission denied, changed) is the answer; otherwise the workers'
// failure is reported, with the direct read's failure added.
Status BothFailed(const Status& workers, const Status& direct) {
  switch (direct.code()) {
    case StatusCode::kNotFound:
    case StatusCode::kPermissionDenied:
    case StatusCode::kInvalidArgument:
    case StatusCode::kChanged:
      return direct;
    default:
      break;
  }
  if (workers.ok()) return direct;
  return {workers.code(), fmt::format("{}; reading the under store directly failed too: {}",
                                      workers.message(), direct.message())};
}

// A worker's answer to a blocking call, with the worker that gave it.
struct Answer {
  std::string host;
  HttpResponse response;
};

class ClientImpl final : public Client {
 public:
  ClientImpl(ClientOptions options, Clock& clock, std::unique_ptr<MembershipView> membership,
             std::unique_ptr<FallbackStores> fallback, std::unique_ptr<HttpPool> pool)
      : options_(std::move(options)),
        placement_(std::move(membership)),
        fallback_(std::move(fallback)),
        cache_(options_.metadata_ttl, clock),
        breakers_(options_.breaker_backoff, options_.breaker_max_backoff, clock),
        pool_(std::move(pool)),
        direct_pool_(kDirectReadThreads),
        creator_pid_(getpid()),
        // A local answer never waits on the under store: the connect timeout bounds it.
        local_(options_.local_reads ? std::make_unique<LocalReads>(options_.auth_token,
                                                                   options_.connect_timeout, clock)
                                    : nullptr) {}

  ~ClientImpl() override {
    // In a forked child the I/O threads, the direct-read threads and the membership refresh
    // thread do not exist: tearing them down would wait for them forever. Leaking is the only
    // safe choice there.
    if (getpid() != creator_pid_) {
      (void)pool_.release();
      placement_.LeakMembership();
      direct_pool_.Leak();
    }
  }

  ClientImpl(const ClientImpl&) = delete;
  ClientImpl& operator=(const ClientImpl&) = delete;

  Result<FileStatus> Stat(std::string_view path) override {
    if (auto cached = cache_.Get(path)) return *std::move(cached);
    if (auto local = LocalStat(path)) {
      cache_.Put(path, *local);
      return *std::move(local);
    }
    auto attempts = AttemptsFor(path, BlockKey(path, 0));
    auto r = Ask(attempts, path,
                 protocol::BuildTarget(protocol::kStatPath, {{protocol::kPathParam, path}}));
    if (!r.ok()) {
      if (!attempts.FallBack()) return r.status();
      auto direct = DirectStat(path);
      if (!direct.ok()) return BothFailed(r.status(), direct.status());
      cache_.Put(path, *direct);
      return direct;
    }
    if (r->response.status != 200) return ErrorOf(*r, path);
    auto st = protocol::DecodeFileStatus(r->response.body);
    if (!st.ok()) return BadAnswer(r->host, path, st.status());
    cache_.Put(path, *st);
    return st;
  }

  Result<std::vector<FileStatus>> List(std::string_view path, bool recursive) override {
    std::vector<FileStatus> out;
    std::string start_after;
    for (std::size_t page = 0;; ++page) {
      if (page >= kMaxListPages) {
        return Status::IoError(
            fmt::format("{}: the listing did not end after {} pages (last start_after '{}')", path,
                        page, protocol::Snippet(start_after)));
      }
      std::vector<std::pair<std::string_view, std::string_view>> params = {
          {protocol::kPathParam, path}};
      if (recursive) params.emplace_back(protocol::kRecursiveParam, "1");
      if (!start_after.empty()) params.emplace_back(protocol::kStartAfterParam, start_after);
      const std::string target = protocol::BuildTarget(protocol::kListPath, params);
      // Each page may come from a different worker: they all list the same under store.
      auto attempts = AttemptsFor(path, BlockKey(path, 0));
      auto r = Ask(attempts, path, target);
      if (!r.ok()) {
        if (!attempts.FallBack()) return r.status();
        auto direct = DirectList(path, recursive);
        if (!direct.ok()) return BothFailed(r.status(), direct.status());
        return direct;
      }
      if (r->response.status != 200) return ErrorOf(*r, path);
      auto next = AppendListPage(r->host, path, r->response.body, start_after, &out);
      if (!next.ok()) return next.status();
      if (!next->has_value()) return out;
      // Entries come sorted and strictly after start_after: a cursor that does not move
      // forward would repeat the same page forever.
      if (**next <= start_after) {
        return BadAnswer(r->host, path,
                         Status::IoError(fmt::format(
                             "next_start_after '{}' does not advance past start_after '{}'",
                             protocol::Snippet(**next), protocol::Snippet(start_after))));
      }
      start_after = std::move(**next);
    }
  }

  Result<std::size_t> Read(std::string_view path, std::uint64_t offset,
                           std::span<std::byte> out) override {
    return ReadSized(path, offset, out.size(),
                     [out](std::size_t length) { return out.first(length); });
  }

  Result<std::size_t> ReadSized(
      std::string_view path, std::uint64_t offset, std::uint64_t max_length,
      const std::function<std::span<std::byte>(std::size_t)>& allocate) override {
    return RetryWhileChanged(
        path,
        [&]() -> Result<std::size_t> {
          EC_ASSIGN_OR_RETURN(FileStatus st, Stat(path));
          if (st.is_directory) {
            return Status::InvalidArgument(fmt::format("{} is a directory", path));
          }
          const std::uint64_t available = offset >= st.size ? 0 : st.size - offset;
          const auto length = static_cast<std::size_t>(std::min(max_length, available));
          const std::span<std::byte> out = allocate(length);
          if (out.size() != length) {
            return Status::Internal(fmt::format(
                "{}: a buffer of {} bytes was given for a read of {}", path, out.size(), length));
          }
          if (length == 0) return std::size_t{0};
          EC_RETURN_IF_ERROR(ReadPieces(path, st, offset, out));
          return length;
        },
        [&] { cache_.Invalidate(path); });
  }

  Result<std::string> WorkerStats(std::string_view worker_host) override {
    // One candidate and nowhere to fall back to: asked even with its breaker open.
    const std::string stats(protocol::kStatsPath);
    WorkerAttempts attempts({std::string(worker_host)}, breakers_, /*can_fall_back=*/false, stats,
                            NoWorkers(stats), &failovers_);
    EC_ASSIGN_OR_RETURN(Answer r, Ask(attempts, stats, stats));
    if (r.response.status != 200) return ErrorOf(r, stats);
    return std::move(r.response.body);
  }

  Result<std::string> WorkerPost(std::string_view worker_host, std::string_view target) override {
    auto r = pool_->Get(std::string(worker_host), HttpRequest{.target = std::string(target),
                                                              .range = std::nullopt,
                                                              .cancelled = nullptr,
                                                              .post = true});
    if (!r.ok()) return r.status().WithContext(target);
    if (r->status != 200) {
      return ErrorFromAnswer(r->status, r->body, worker_host, target, sent_token());
    }
    return std::move(r->body);
  }

  [[nodiscard]] std::uint64_t block_size() const override { return options_.block_size; }

  [[nodiscard]] std::vector<WorkerRecord> Workers() const override {
    return placement_.Current()->workers;
  }

  [[nodiscard]] std::vector<std::string> Locate(std::string_view path, std::uint64_t block,
                                                std::size_t n) const override {
    return placement_.Current()->Candidates(BlockKey(path, block), n);
  }

  [[nodiscard]] ClientStats stats() const override {
    ClientStats out;
    out.failovers = failovers_.load();
    out.direct_reads = direct_reads_.load();
    out.direct_read_bytes = direct_read_bytes_.load();
    out.direct_metadata = direct_metadata_.load();
    out.breaker_opens = breakers_.opens();
    out.breaker_skips = breakers_.skips();
    out.worker_errors = worker_errors_.load();
    out.placement_rebuilds = placement_.rebuilds();
    if (local_) {
      out.local_reads = local_->reads();
      out.local_read_bytes = local_->bytes();
      out.local_kept_reads = local_->kept_reads();
      out.local_stats = local_->stats();
    }
    return out;
  }

 private:
  // The status of `path` from its owner's local socket, when it has one and the status cached
  // (client/local_reads.h); nullopt: ask over HTTP.
  std::optional<FileStatus> LocalStat(std::string_view path) {
    if (!local_) return std::nullopt;
    const auto topology = placement_.Current();
    const auto owners = topology->Candidates(BlockKey(path, 0), options_.max_workers_per_key);
    if (owners.empty() || !local_->MayServe(*topology, owners.front())) return std::nullopt;
    return local_->TryStat(*topology, owners.front(), std::string(path));
  }

  // The walk through the workers for `key` of `path`, as of the current membership.
  WorkerAttempts AttemptsFor(std::string_view path, std::string_view key) {
    return AttemptsAmong(path, placement_.Current()->Candidates(key, options_.max_workers_per_key));
  }

  WorkerAttempts AttemptsAmong(std::string_view path, std::vector<std::string> candidates) {
    return {std::move(candidates), breakers_,       fallback_ != nullptr,
            std::string(path),     NoWorkers(path), &failovers_};
  }

  // Asks the workers of `attempts` for `target` in turn until one answers with anything but a
  // server error. Returns that answer, or why no worker could give one.
  Result<Answer> Ask(WorkerAttempts& attempts, std::string_view path, const std::string& target) {
    while (auto host = attempts.Next()) {
      auto r = pool_->Get(
          *host, HttpRequest{.target = target, .range = std::nullopt, .cancelled = nullptr});
      attempts.Report(*host, OutcomeOf(r));
      if (!IsWorkerFailure(r)) {
        if (!r.ok()) return r.status().WithContext(path);
        return Answer{*std::move(host), std::move(r).value()};
      }
      worker_errors_.fetch_add(1, std::memory_order_relaxed);
      Status why = r.ok() ? ErrorFromAnswer(r->status, r->body, *host, path, sent_token())
                          : r.status().WithContext(path);
      // A 5xx answer is a worker failure too: keep the status code for the caller.
      if (r.ok() && why.code() != StatusCode::kUnavailable && why.code() != StatusCode::kTimeout &&
          why.code() != StatusCode::kInternal && why.code() != StatusCode::kIoError) {
        why = Status::Unavailable(why.message());
      }
      attempts.Failed(std::move(why));
    }
    return attempts.error();
  }

  Status ErrorOf(const Answer& a, std::string_view path) const {
    return ErrorFromAnswer(a.response.status, a.response.body, a.host, path, sent_token());
  }

  Status NoWorkers(std::string_view path) const {
    return Status::Unavailable(
        fmt::format("{}: no epochcache workers are known{}", path,
                    options_.etcd_endpoints.empty()
                        ? std::string()
                        : fmt::format(" (cluster '{}' in etcd has none)", options_.cluster)));
  }

  Result<FileStatus> DirectStat(std::string_view path) {
    EC_ASSIGN_OR_RETURN(auto store, fallback_->For(path));
    direct_metadata_.fetch_add(1, std::memory_order_relaxed);
    return store->Stat(path);
  }

  Result<std::vector<FileStatus>> DirectList(std::string_view path, bool recursive) {
    EC_ASSIGN_OR_RETURN(auto store, fallback_->For(path));
    direct_metadata_.fetch_add(1, std::memory_order_relaxed);
    EC_ASSIGN_OR_RETURN(auto entries, store->List(path, recursive));
    for (const auto& st : entries) {
      if (!st.is_directory && !st.path.empty()) cache_.Put(st.path, st);
    }
    return entries;
  }

  [[nodiscard]] bool sent_token() const { return !options_.auth_token.empty(); }

  // Appends the entries of one /v1/list page that come after `start_after` to `out`; returns
  // its next_start_after (absent on the last page, and from workers that do not paginate).
  // Entries up to `start_after` are dropped: a worker that does not paginate yet (in a cluster
  // being upgraded) answers a later page with the whole listing.
  Result<std::optional<std::string>> AppendListPage(std::string_view host, std::string_view path,
                                                    std::string_view body,
                                                    const std::string& start_after,
                                                    std::vector<FileStatus>* out) {
    auto page = protocol::DecodeListPage(body);
    if (!page.ok()) return BadAnswer(host, path, page.status());
    out->reserve(out->size() + page->entries.size());
    for (auto& st : page->entries) {
      if (!start_after.empty() && st.path <= start_after) continue;
      // Listing a directory and then reading its files is the common pattern: prime the cache.
      if (!st.is_directory && !st.path.empty()) cache_.Put(st.path, st);
      out->push_back(std::move(st));
    }
    return std::move(page->next_start_after);
  }

  // Reads [offset, offset + out.size()) of version st.version into `out`, one request per
  // piece, all in flight together (the pool bounds how many). Each piece goes to the owner of
  // its block, then to the block's next workers, then (collected) to the under store. The
  // first piece is read on the calling thread while the others run on the I/O threads: a
  // read of one piece (a typical cache hit) never waits for a thread hand-off. A piece whose
  // owner serves local reads is asked there on the calling thread too (client/local_reads.h).
  Status ReadPieces(std::string_view path, const FileStatus& st, std::uint64_t offset,
                    std::span<std::byte> out) {
    const std::uint64_t piece_size = options_.piece_size;
    const std::uint64_t end = offset + out.size();
    const auto topology = placement_.Current();
    // A read no longer than a piece is one request even where it straddles a piece boundary, or
    // a block boundary between blocks with the same workers: split, its second part would cost a
    // hand-off to an I/O thread and a round trip of its own (one 64 KiB random read in sixteen
    // straddles a 1 MiB piece boundary).
    const std::uint64_t first_block = offset / options_.block_size;
    const std::uint64_t last_block = (end - 1) / options_.block_size;
    const bool whole =
        out.size() <= piece_size &&
        (first_block == last_block ||
         topology->Candidates(BlockKey(path, first_block), options_.max_workers_per_key) ==
             topology->Candidates(BlockKey(path, last_block), options_.max_workers_per_key));
    const std::uint64_t first_piece = whole ? 0 : offset / piece_size;
    const std::uint64_t last_piece = whole ? 0 : (end - 1) / piece_size;
    auto target = std::make_shared<const ReadTarget>(ReadTarget{
        .path = std::string(path),
        .request_target = protocol::BuildTarget(
            protocol::kReadPath,
            {{protocol::kPathParam, path}, {protocol::kVersionParam, st.version}}),
        .size = st.size,
        .version = st.version,
    });
    auto batch = std::make_shared<Batch>(static_cast<std::size_t>(last_piece - first_piece + 1));
    std::uint64_t block = std::numeric_limits<std::uint64_t>::max();
    std::vector<std::string> candidates;
    std::optional<std::pair<Piece, std::vector<std::string>>> inline_piece;
    // Pieces whose owner serves local reads: tried there on this thread once the others are in
    // flight (a hit is a few preads); a declined one then goes over HTTP like the others.
    std::vector<std::pair<Piece, std::vector<std::string>>> local_pieces;
    for (std::uint64_t piece = first_piece; piece <= last_piece; ++piece) {
      const std::uint64_t a = whole ? offset : std::max(offset, piece * piece_size);
      const std::uint64_t b = whole ? end : std::min(end, (piece + 1) * piece_size);
      if (const std::uint64_t piece_block = a / options_.block_size; piece_block != block) {
        block = piece_block;
        candidates = topology->Candidates(BlockKey(path, block), options_.max_workers_per_key);
      }
      auto sink =
          out.subspan(static_cast<std::size_t>(a - offset), static_cast<std::size_t>(b - a));
      if (piece == first_piece) {
        inline_piece.emplace(Piece{a, b, sink}, candidates);
        continue;
      }
      if (local_ && !candidates.empty() && local_->MayServe(*topology, candidates.front())) {
        local_pieces.emplace_back(Piece{a, b, sink}, candidates);
        continue;
      }
      StartPieceRead(piece_context_, batch, AttemptsAmong(path, candidates), Piece{a, b, sink},
                     target);
    }
    for (auto& [piece, owners] : local_pieces) {
      if (local_->TryRead(*topology, owners.front(), *target, piece) !=
          LocalReads::Outcome::kDeclined) {
        batch->Done(Status::Ok());
        continue;
      }
      StartPieceRead(piece_context_, batch, AttemptsAmong(path, std::move(owners)), piece, target);
    }
    ReadPieceInline(piece_context_, *batch, AttemptsAmong(path, std::move(inline_piece->second)),
                    inline_piece->first, *target, *topology);
    EC_RETURN_IF_ERROR(batch->Wait());
    auto pieces = batch->TakeDirect();
    if (pieces.empty()) return Status::Ok();
    Status direct = [&]() -> Status {
      EC_ASSIGN_OR_RETURN(auto store, fallback_->For(path));
      direct_reads_.fetch_add(pieces.size(), std::memory_order_relaxed);
      return ReadDirect(*store, direct_pool_, path, st.version, options_.block_size, offset,
                        std::move(pieces), direct_read_bytes_);
    }();
    if (direct.ok()) return direct;
    return BothFailed(batch->worker_error(), direct);
  }

  const ClientOptions options_;
  PlacementView placement_;
  const std::unique_ptr<FallbackStores> fallback_;
  MetadataCache cache_;
  CircuitBreakers breakers_;
  std::unique_ptr<HttpPool> pool_;
  TaskPool direct_pool_;
  const pid_t creator_pid_;
  const std::unique_ptr<LocalReads> local_;  // null: local reads off
  std::atomic<std::uint64_t> failovers_{0};
  std::atomic<std::uint64_t> direct_reads_{0};
  std::atomic<std::uint64_t> direct_read_bytes_{0};
  std::atomic<std::uint64_t> direct_metadata_{0};
  std::atomic<std::uint64_t> worker_errors_{0};
  const PieceReadContext piece_context_{*pool_, worker_errors_, sent_token(), local_.get()};
};

}  // namespace

std::unique_ptr<Client> MakeClientImpl(ClientOptions options, Clock& clock,
                                       std::unique_ptr<MembershipView> membership,
                                       std::unique_ptr<FallbackStores> fallback,
                                       std::unique_ptr<HttpPool> pool) {
  return std::make_unique<ClientImpl>(std::move(options), clock, std::move(membership),
                                      std::move(fallback), std::move(pool));
}

}  // namespace epochcache::client
