// The native client: stat/list through a worker, and parallel piece reads into the caller's
// buffer, with failover to the next worker for a key, then to the under store. The network side
// lives in http_pool.cc; this file places, plans, fails over and checks.
#include "epochcache/client.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <utility>

#include "client/breaker.h"
#include "client/fallback.h"
#include "client/http_pool.h"
#include "client/metadata_cache.h"
#include "client/percent_encode.h"
#include "epochcache/placement.h"

namespace epochcache {
namespace {

using client::HttpPool;
using client::HttpRequest;
using client::HttpResponse;
using json = nlohmann::json;

// A read whose object keeps changing under it gives up after this many attempts.
constexpr int kMaxChangedAttempts = 3;
constexpr std::size_t kIoThreads = 2;
// Under-store reads in flight at once for one Read() that falls back to the under store.
constexpr std::size_t kDirectReadThreads = 8;
// A listing longer than this many pages (ten million entries at the workers' default page
// size) is taken for a worker stuck in a loop.
constexpr std::size_t kMaxListPages = 10000;

std::string Snippet(std::string_view body) {
  constexpr std::size_t kMax = 200;
  std::string out(body.substr(0, kMax));
  if (body.size() > kMax) out += "...";
  return out;
}

StatusCode CodeForHttpStatus(unsigned status) {
  switch (status) {
    case 400:
      return StatusCode::kInvalidArgument;
    case 401:
      return StatusCode::kUnauthenticated;
    case 403:
      return StatusCode::kPermissionDenied;
    case 404:
      return StatusCode::kNotFound;
    case 409:
    case 416:
      return StatusCode::kChanged;
    case 503:
      return StatusCode::kUnavailable;
    case 504:
      return StatusCode::kTimeout;
    case 500:
      return StatusCode::kInternal;
    default:
      return StatusCode::kIoError;
  }
}

// The string member `key` of a JSON object, or empty. Never throws on untrusted input.
std::string StringMember(const json& doc, const char* key) {
  if (!doc.is_object()) return {};
  auto it = doc.find(key);
  return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The Status a worker's error answer stands for: its JSON {"error","message"} when present.
// `sent_token` says whether this client presented a token, for the message of a 401.
Status ErrorFromResponse(const HttpResponse& r, std::string_view host, std::string_view path,
                         bool sent_token) {
  if (r.status == 416) {
    return Status::Changed(fmt::format("{}: the file is shorter than when it was stat'ed", path));
  }
  const json doc = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  const std::string name = StringMember(doc, "error");
  std::string message = StringMember(doc, "message");
  if (r.status == 401) {
    // The worker's message never echoes the token, and neither does this one.
    return Status::Unauthenticated(fmt::format(
        "{}: worker {} refused the request (HTTP 401 unauthenticated): {}{}", path, host,
        sent_token ? "the auth token given was not accepted"
                   : "it requires an auth token and none was given",
        message.empty() ? std::string() : fmt::format(" ({})", Snippet(message))));
  }
  if (!name.empty()) {
    StatusCode code = StatusCodeFromName(name);
    if (code == StatusCode::kOk) code = StatusCode::kInternal;
    if (message.empty()) {
      message = fmt::format("{}: worker {} answered HTTP {}", path, host, r.status);
    }
    return {code, std::move(message)};
  }
  return {CodeForHttpStatus(r.status),
          fmt::format("{}: worker {} answered HTTP {}: {}", path, host, r.status, Snippet(r.body))};
}

Result<FileStatus> StatusFromJson(const json& j) {
  if (!j.is_object()) return Status::IoError("not a JSON object");
  FileStatus st;
  const auto get_string = [&j](const char* key) -> std::string {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const auto get_number = [&j](const char* key) -> std::optional<double> {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number()) return std::nullopt;
    return it->get<double>();
  };
  st.path = get_string("path");
  const std::string type = get_string("type");
  if (type != "file" && type != "directory") {
    return Status::IoError(fmt::format("entry '{}' has unknown type '{}'", st.path, type));
  }
  st.is_directory = type == "directory";
  if (auto it = j.find("size"); it != j.end() && it->is_number_unsigned()) {
    st.size = it->get<std::uint64_t>();
  } else if (!st.is_directory && !get_number("size")) {
    return Status::IoError(fmt::format("entry '{}' has no size", st.path));
  }
  if (auto it = j.find("mtime_ns"); it != j.end() && it->is_number_integer()) {
    st.mtime_ns = it->get<std::int64_t>();
  }
  st.version = get_string("version");
  return st;
}

// Parses "bytes FIRST-LAST/SIZE".
bool ParseContentRange(std::string_view v, std::uint64_t* first, std::uint64_t* last,
                       std::uint64_t* size) {
  if (!v.starts_with("bytes ")) return false;
  v.remove_prefix(6);
  const auto parse = [&v](std::uint64_t* out, char stop) {
    const char* end = v.data() + v.size();
    auto [p, ec] = std::from_chars(v.data(), end, *out);
    if (ec != std::errc() || p == v.data()) return false;
    v.remove_prefix(static_cast<std::size_t>(p - v.data()));
    if (stop == '\0') return v.empty();
    if (v.empty() || v.front() != stop) return false;
    v.remove_prefix(1);
    return true;
  };
  return parse(first, '-') && parse(last, '/') && parse(size, '\0');
}

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

  void Done(Status s) {
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

  // The piece is done with the workers and must be read from the under store directly.
  void NeedsDirect(const Piece& piece, const Status& worker_error) {
    std::lock_guard lock(mu_);
    direct_.push_back(piece);
    if (worker_error_.ok()) worker_error_ = worker_error;
    if (--pending_ == 0) cv_.notify_all();
  }

  Status Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return pending_ == 0; });
    return first_error_;
  }

  // REQUIRES: Wait() returned.
  std::vector<Piece> TakeDirect() {
    std::lock_guard lock(mu_);
    return std::move(direct_);
  }
  // The first worker failure of a piece that went to the under store.
  Status worker_error() {
    std::lock_guard lock(mu_);
    return worker_error_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t pending_;
  Status first_error_;
  std::vector<Piece> direct_;
  Status worker_error_;
  const std::shared_ptr<std::atomic<bool>> cancelled_ = std::make_shared<std::atomic<bool>>(false);
};

// The workers and their placement, as of one membership generation.
struct Topology {
  std::uint64_t generation = 0;
  std::vector<WorkerRecord> workers;
  std::unique_ptr<Placement> placement;
};

// A failure that another worker might not have: the transport failed, or the worker answered
// with a server error. Answers about the request (4xx, changed) are final.
bool IsWorkerFailure(const Result<HttpResponse>& r) {
  if (!r.ok()) return r.status().code() != StatusCode::kRejected;
  return r->status >= 500;
}

// Whether the worker itself is unreachable or stuck (trips its breaker), rather than alive and
// answering with an error.
//
// A 503 (with Retry-After: the worker is over one of its limits) deliberately is not: the
// worker is alive and the overload is momentary and per request, so the piece goes to the next
// worker for its block (or the under store) and the worker keeps its breaker closed. Opening it
// would take the busy worker's whole share of blocks away for at least breaker_backoff (and
// up to breaker_max_backoff after failed probes), pushing that load onto its neighbours, which
// are the ones most likely to be busy too; a 503 costs one round trip, not a timeout, so
// nothing is gained by skipping it.
bool IsTransportFailure(const Result<HttpResponse>& r) {
  return !r.ok() && r.status().code() != StatusCode::kRejected;
}

Status CheckPiece(const Result<HttpResponse>& r, const std::string& host, const std::string& path,
                  std::uint64_t a, std::uint64_t b, std::uint64_t size, const std::string& version,
                  bool sent_token) {
  if (!r.ok()) return r.status().WithContext(path);
  if (r->status != 206) {
    if (r->status / 100 == 2) {
      return Status::IoError(
          fmt::format("{}: worker {} answered HTTP {} to a range request", path, host, r->status));
    }
    return ErrorFromResponse(*r, host, path, sent_token);
  }
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t total = 0;
  if (!ParseContentRange(r->content_range, &first, &last, &total)) {
    return Status::IoError(
        fmt::format("{}: worker {} sent a bad Content-Range '{}'", path, host, r->content_range));
  }
  if (total != size || (!r->version.empty() && r->version != version)) {
    return Status::Changed(fmt::format("{}: size or version changed during the read", path));
  }
  if (first != a || last != b - 1 || r->sink_bytes != b - a) {
    return Status::IoError(
        fmt::format("{}: worker {} answered bytes {}-{} ({} received) to a request for {}-{}", path,
                    host, first, last, r->sink_bytes, a, b - 1));
  }
  return Status::Ok();
}

class ClientImpl;

// One piece's trip through the ranked workers for its block: each attempt is asynchronous and
// the next one starts from the previous one's callback.
class PieceRead : public std::enable_shared_from_this<PieceRead> {
 public:
  PieceRead(ClientImpl& client, std::shared_ptr<Batch> batch, std::vector<std::string> candidates,
            Piece piece, std::shared_ptr<const std::string> target, std::string path,
            std::uint64_t size, std::string version, bool can_go_direct)
      : client_(client),
        batch_(std::move(batch)),
        candidates_(std::move(candidates)),
        piece_(piece),
        target_(std::move(target)),
        path_(std::move(path)),
        size_(size),
        version_(std::move(version)),
        can_go_direct_(can_go_direct) {}

  void Next();

 private:
  void OnResponse(const std::string& host, const Result<HttpResponse>& r);
  void GiveUp();

  ClientImpl& client_;
  const std::shared_ptr<Batch> batch_;
  const std::vector<std::string> candidates_;
  const Piece piece_;
  const std::shared_ptr<const std::string> target_;
  const std::string path_;
  const std::uint64_t size_;
  const std::string version_;
  const bool can_go_direct_;
  std::size_t next_ = 0;
  std::size_t attempts_ = 0;
  // Set when every candidate was skipped by its breaker and there is no under store to go to:
  // the candidates are then tried anyway, as the only way left to answer.
  bool forced_ = false;
  Status last_error_;
};

class ClientImpl final : public Client {
 public:
  ClientImpl(ClientOptions options, std::unique_ptr<MembershipView> view,
             std::unique_ptr<client::FallbackStores> fallback, std::unique_ptr<HttpPool> pool)
      : options_(std::move(options)),
        view_(std::move(view)),
        fallback_(std::move(fallback)),
        cache_(options_.metadata_ttl),
        breakers_(options_.breaker_backoff, options_.breaker_max_backoff),
        pool_(std::move(pool)),
        creator_pid_(getpid()) {}

  ~ClientImpl() override {
    // In a forked child the I/O threads (and the membership refresh thread) do not exist:
    // tearing them down would wait for them forever. Leaking is the only safe choice there.
    if (getpid() != creator_pid_) {
      (void)pool_.release();
      (void)view_.release();
    }
  }

  ClientImpl(const ClientImpl&) = delete;
  ClientImpl& operator=(const ClientImpl&) = delete;

  Result<FileStatus> Stat(std::string_view path) override {
    if (auto cached = cache_.Get(path)) return *std::move(cached);
    const std::string target = "/v1/stat?path=" + client::PercentEncodeQueryComponent(path);
    // MetadataCall fails only when no worker could answer at all.
    auto r = MetadataCall(path, target);
    if (!r.ok()) {
      if (!fallback_) return r.status();
      auto direct = DirectStat(path);
      if (!direct.ok()) return BothFailed(r.status(), direct.status());
      cache_.Put(path, *direct);
      return direct;
    }
    const auto& [host, resp] = *r;
    if (resp.status != 200) return ErrorFromResponse(resp, host, path, sent_token());
    const json doc = json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
    auto st = StatusFromJson(doc);
    if (!st.ok()) return BadAnswer(host, path, st.status());
    cache_.Put(path, *st);
    return st;
  }

  Result<std::vector<FileStatus>> List(std::string_view path, bool recursive) override {
    const std::string base = "/v1/list?path=" + client::PercentEncodeQueryComponent(path) +
                             (recursive ? "&recursive=1" : "");
    std::vector<FileStatus> out;
    std::string start_after;
    for (std::size_t page = 0;; ++page) {
      if (page >= kMaxListPages) {
        return Status::IoError(
            fmt::format("{}: the listing did not end after {} pages (last start_after '{}')", path,
                        page, Snippet(start_after)));
      }
      const std::string target =
          start_after.empty()
              ? base
              : base + "&start_after=" + client::PercentEncodeQueryComponent(start_after);
      // Each page may come from a different worker: they all list the same under store.
      auto r = MetadataCall(path, target);
      if (!r.ok()) {
        if (!fallback_) return r.status();
        auto direct = DirectList(path, recursive);
        if (!direct.ok()) return BothFailed(r.status(), direct.status());
        return direct;
      }
      const auto& [host, resp] = *r;
      if (resp.status != 200) return ErrorFromResponse(resp, host, path, sent_token());
      auto next = ParseListPage(host, path, resp.body, start_after, &out);
      if (!next.ok()) return next.status();
      if (!next->has_value()) return out;
      // Entries come sorted and strictly after start_after: a cursor that does not move
      // forward would repeat the same page forever.
      if (**next <= start_after) {
        return BadAnswer(host, path,
                         Status::IoError(fmt::format(
                             "next_start_after '{}' does not advance past start_after '{}'",
                             Snippet(**next), Snippet(start_after))));
      }
      start_after = std::move(**next);
    }
  }

  Result<std::size_t> Read(std::string_view path, std::uint64_t offset,
                           std::span<std::byte> out) override {
    for (int attempt = 1;; ++attempt) {
      EC_ASSIGN_OR_RETURN(FileStatus st, Stat(path));
      if (st.is_directory) {
        return Status::InvalidArgument(fmt::format("{} is a directory", path));
      }
      if (offset >= st.size || out.empty()) return std::size_t{0};
      const auto length =
          static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), st.size - offset));
      Status s = ReadPieces(path, st, offset, out.first(length));
      if (s.ok()) return length;
      if (s.code() != StatusCode::kChanged) return s;
      cache_.Invalidate(path);
      if (attempt >= kMaxChangedAttempts) {
        return s.WithContext(
            fmt::format("{} kept changing while being read ({} attempts)", path, attempt));
      }
    }
  }

  Result<std::string> WorkerStats(std::string_view worker_host) override {
    const std::string host(worker_host);
    EC_ASSIGN_OR_RETURN(HttpResponse r, pool_->Get(host, HttpRequest{.target = "/v1/stats",
                                                                     .range = std::nullopt,
                                                                     .cancelled = nullptr}));
    if (r.status != 200) return ErrorFromResponse(r, host, "/v1/stats", sent_token());
    return std::move(r.body);
  }

  [[nodiscard]] std::vector<WorkerRecord> Workers() const override {
    return CurrentTopology()->workers;
  }

  [[nodiscard]] std::vector<std::string> Locate(std::string_view path, std::uint64_t block,
                                                std::size_t n) const override {
    return Candidates(*CurrentTopology(), BlockKey(path, block), n);
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
    out.placement_rebuilds = placement_rebuilds_.load();
    return out;
  }

 private:
  friend class PieceRead;

  std::shared_ptr<const Topology> CurrentTopology() const {
    const std::uint64_t generation = view_->generation();
    std::lock_guard lock(topology_mu_);
    if (!topology_ || topology_->generation != generation) {
      auto topology = std::make_shared<Topology>();
      topology->generation = generation;
      topology->workers = view_->Workers();
      std::vector<std::string> ids;
      ids.reserve(topology->workers.size());
      for (const auto& w : topology->workers) ids.push_back(w.id);
      topology->placement = MakePlacement(PlacementAlgorithm::kRendezvous, ids);
      if (topology_) placement_rebuilds_.fetch_add(1, std::memory_order_relaxed);
      topology_ = std::move(topology);
    }
    return topology_;
  }

  static std::vector<std::string> Candidates(const Topology& topology, std::string_view key,
                                             std::size_t n) {
    std::vector<std::string> out;
    for (std::size_t i : topology.placement->Rank(key, n)) {
      out.push_back(topology.workers[i].address);
    }
    return out;
  }

  // The worker candidates for `key`, owner first.
  std::vector<std::string> CandidatesFor(std::string_view key) const {
    return Candidates(*CurrentTopology(), key, options_.max_workers_per_key);
  }

  // Asks the ranked workers for the metadata of `path` in turn (skipping open breakers) until
  // one answers with anything but a server error. Returns the host and its answer, or the
  // status of the last failure.
  Result<std::pair<std::string, HttpResponse>> MetadataCall(std::string_view path,
                                                            const std::string& target) {
    const auto candidates = CandidatesFor(BlockKey(path, 0));
    Status last = NoWorkers(path);
    std::size_t attempts = 0;
    for (int pass = 0; pass < 2; ++pass) {
      // The second pass, only when every worker was skipped and there is no under store to
      // go to, asks them anyway: the only way left to answer.
      const bool forced = pass == 1;
      if (forced && (attempts > 0 || fallback_ || candidates.empty())) break;
      for (const auto& host : candidates) {
        if (!forced && !breakers_.Allow(host)) {
          last = Status::Unavailable(
              fmt::format("{}: worker {} is skipped after recent failures", path, host));
          continue;
        }
        if (attempts++ > 0) failovers_.fetch_add(1, std::memory_order_relaxed);
        auto r = pool_->Get(
            host, HttpRequest{.target = target, .range = std::nullopt, .cancelled = nullptr});
        if (IsTransportFailure(r)) {
          breakers_.Failure(host);
        } else {
          breakers_.Success(host);
        }
        if (!IsWorkerFailure(r)) return std::make_pair(host, std::move(r).value());
        worker_errors_.fetch_add(1, std::memory_order_relaxed);
        last =
            r.ok() ? ErrorFromResponse(*r, host, path, sent_token()) : r.status().WithContext(path);
        // A 5xx answer is a worker failure too: keep the status code for the caller.
        if (r.ok() && last.code() != StatusCode::kUnavailable &&
            last.code() != StatusCode::kTimeout && last.code() != StatusCode::kInternal &&
            last.code() != StatusCode::kIoError) {
          last = Status::Unavailable(last.message());
        }
      }
    }
    return last;
  }

  // The workers failed and so did the direct read. An answer from the under store about the
  // request (not found, permission denied, changed) is the answer; otherwise the workers'
  // failure is reported, with the direct read's failure added.
  static Status BothFailed(const Status& workers, const Status& direct) {
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

  static Status BadAnswer(std::string_view host, std::string_view path, const Status& why) {
    return Status::IoError(
        fmt::format("{}: worker {} sent a malformed answer: {}", path, host, why.message()));
  }

  [[nodiscard]] bool sent_token() const { return !options_.auth_token.empty(); }

  // Appends the entries of one /v1/list page that come after `start_after` to `out`; returns
  // its next_start_after (absent on the last page, and from workers that do not paginate).
  // Entries up to `start_after` are dropped: a worker that does not paginate yet (in a cluster
  // being upgraded) answers a later page with the whole listing.
  Result<std::optional<std::string>> ParseListPage(std::string_view host, std::string_view path,
                                                   const std::string& body,
                                                   const std::string& start_after,
                                                   std::vector<FileStatus>* out) {
    const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_object()) return BadAnswer(host, path, Status::IoError("not a JSON object"));
    const auto entries = doc.find("entries");
    if (entries == doc.end() || !entries->is_array()) {
      return BadAnswer(host, path, Status::IoError("no 'entries' array"));
    }
    std::optional<std::string> next;
    if (const auto it = doc.find("next_start_after"); it != doc.end() && !it->is_null()) {
      if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
        return BadAnswer(host, path,
                         Status::IoError("'next_start_after' is not a non-empty string"));
      }
      next = it->get<std::string>();
    }
    out->reserve(out->size() + entries->size());
    for (const auto& entry : *entries) {
      auto st = StatusFromJson(entry);
      if (!st.ok()) return BadAnswer(host, path, st.status());
      if (!start_after.empty() && st->path <= start_after) continue;
      // Listing a directory and then reading its files is the common pattern: prime the cache.
      if (!st->is_directory && !st->path.empty()) cache_.Put(st->path, *st);
      out->push_back(std::move(st).value());
    }
    return next;
  }

  // Reads [offset, offset + out.size()) of version st.version into `out`, one request per
  // piece, all in flight together (the pool bounds how many). Each piece goes to the owner of
  // its block, then to the block's next workers, then (collected) to the under store.
  Status ReadPieces(std::string_view path, const FileStatus& st, std::uint64_t offset,
                    std::span<std::byte> out) {
    const std::uint64_t piece_size = options_.piece_size;
    const std::uint64_t end = offset + out.size();
    const std::uint64_t first_piece = offset / piece_size;
    const std::uint64_t last_piece = (end - 1) / piece_size;
    auto target = std::make_shared<const std::string>(
        "/v1/read?path=" + client::PercentEncodeQueryComponent(path) +
        "&version=" + client::PercentEncodeQueryComponent(st.version));
    const auto topology = CurrentTopology();
    auto batch = std::make_shared<Batch>(static_cast<std::size_t>(last_piece - first_piece + 1));
    std::uint64_t block = std::numeric_limits<std::uint64_t>::max();
    std::vector<std::string> candidates;
    for (std::uint64_t piece = first_piece; piece <= last_piece; ++piece) {
      const std::uint64_t a = std::max(offset, piece * piece_size);
      const std::uint64_t b = std::min(end, (piece + 1) * piece_size);
      if (const std::uint64_t piece_block = a / options_.block_size; piece_block != block) {
        block = piece_block;
        candidates = Candidates(*topology, BlockKey(path, block), options_.max_workers_per_key);
      }
      auto sink =
          out.subspan(static_cast<std::size_t>(a - offset), static_cast<std::size_t>(b - a));
      auto read =
          std::make_shared<PieceRead>(*this, batch, candidates, Piece{a, b, sink}, target,
                                      std::string(path), st.size, st.version, fallback_ != nullptr);
      read->Next();
    }
    EC_RETURN_IF_ERROR(batch->Wait());
    Status direct = ReadDirect(path, st, offset, batch->TakeDirect());
    if (direct.ok()) return direct;
    return BothFailed(batch->worker_error(), direct);
  }

  // Reads pieces from the under store, contiguous pieces together, a few reads at a time.
  Status ReadDirect(std::string_view path, const FileStatus& st, std::uint64_t offset,
                    std::vector<Piece> pieces) {
    if (pieces.empty()) return Status::Ok();
    EC_ASSIGN_OR_RETURN(auto store, fallback_->For(path));
    std::sort(pieces.begin(), pieces.end(),
              [](const Piece& x, const Piece& y) { return x.a < y.a; });
    // Runs of adjacent pieces, cut at block boundaries so that large gaps read in parallel.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;
    for (const auto& p : pieces) {
      if (!runs.empty() && runs.back().second == p.a &&
          p.a / options_.block_size == runs.back().first / options_.block_size) {
        runs.back().second = p.b;
      } else {
        runs.emplace_back(p.a, p.b);
      }
    }
    direct_reads_.fetch_add(pieces.size(), std::memory_order_relaxed);
    std::atomic<std::size_t> next{0};
    std::mutex mu;
    Status first_error;
    const auto work = [&] {
      for (std::size_t i = next++; i < runs.size(); i = next++) {
        const auto [a, b] = runs[i];
        auto got = store->ReadRange(path, st.version, a, DirectSink(offset, a, b, pieces));
        Status s = got.status();
        if (got.ok()) {
          direct_read_bytes_.fetch_add(*got, std::memory_order_relaxed);
          if (*got != b - a) {
            s = Status::Changed(
                fmt::format("{}: the file is shorter than when it was stat'ed", path));
          }
        }
        if (!s.ok()) {
          std::lock_guard lock(mu);
          if (first_error.ok()) first_error = s.WithContext("reading the under store directly");
        }
      }
    };
    const std::size_t threads = std::min<std::size_t>(runs.size(), kDirectReadThreads);
    std::vector<std::thread> helpers;
    helpers.reserve(threads - 1);
    for (std::size_t t = 1; t < threads; ++t) helpers.emplace_back(work);
    work();
    for (auto& t : helpers) t.join();
    return first_error;
  }

  // The caller's bytes [a, b) of the file, given the pieces of the read starting at `offset`.
  static std::span<std::byte> DirectSink(std::uint64_t offset, std::uint64_t a, std::uint64_t b,
                                         const std::vector<Piece>& pieces) {
    // Every piece's sink is a subspan of one buffer that starts at file offset `offset`.
    const Piece& first = pieces.front();
    std::byte* base = first.sink.data() - (first.a - offset);
    return {base + (a - offset), static_cast<std::size_t>(b - a)};
  }

  const ClientOptions options_;
  std::unique_ptr<MembershipView> view_;
  const std::unique_ptr<client::FallbackStores> fallback_;
  mutable std::mutex topology_mu_;
  mutable std::shared_ptr<const Topology> topology_;  // GUARDED_BY(topology_mu_)
  client::MetadataCache cache_;
  client::CircuitBreakers breakers_;
  std::unique_ptr<HttpPool> pool_;
  const pid_t creator_pid_;
  std::atomic<std::uint64_t> failovers_{0};
  std::atomic<std::uint64_t> direct_reads_{0};
  std::atomic<std::uint64_t> direct_read_bytes_{0};
  std::atomic<std::uint64_t> direct_metadata_{0};
  std::atomic<std::uint64_t> worker_errors_{0};
  mutable std::atomic<std::uint64_t> placement_rebuilds_{0};
};

void PieceRead::Next() {
  for (;;) {
    while (next_ < candidates_.size()) {
      const std::string& host = candidates_[next_++];
      if (!forced_ && !client_.breakers_.Allow(host)) {
        if (last_error_.ok()) {
          last_error_ = Status::Unavailable(
              fmt::format("{}: worker {} is skipped after recent failures", path_, host));
        }
        continue;
      }
      if (attempts_++ > 0) client_.failovers_.fetch_add(1, std::memory_order_relaxed);
      client_.pool_->AsyncGet(host,
                              HttpRequest{.target = *target_,
                                          .range = std::make_pair(piece_.a, piece_.b - 1),
                                          .cancelled = batch_->cancelled()},
                              piece_.sink,
                              [self = shared_from_this(), host](const Result<HttpResponse>& r) {
                                self->OnResponse(host, r);
                              });
      return;
    }
    if (attempts_ > 0 || forced_ || can_go_direct_ || candidates_.empty()) return GiveUp();
    forced_ = true;
    next_ = 0;
  }
}

void PieceRead::OnResponse(const std::string& host, const Result<HttpResponse>& r) {
  if (!r.ok() && r.status().code() == StatusCode::kRejected) {
    client_.breakers_.Abandon(host);
    return batch_->Done(r.status());
  }
  if (IsTransportFailure(r)) {
    client_.breakers_.Failure(host);
  } else {
    client_.breakers_.Success(host);
  }
  Status s = CheckPiece(r, host, path_, piece_.a, piece_.b, size_, version_,
                        !client_.options_.auth_token.empty());
  if (s.ok()) return batch_->Done(Status::Ok());
  const bool worker_failure =
      IsWorkerFailure(r) || (r.ok() && r->status / 100 == 2 && s.code() == StatusCode::kIoError);
  if (!worker_failure || batch_->is_cancelled()) return batch_->Done(std::move(s));
  client_.worker_errors_.fetch_add(1, std::memory_order_relaxed);
  last_error_ = std::move(s);
  Next();
}

void PieceRead::GiveUp() {
  if (can_go_direct_) return batch_->NeedsDirect(piece_, last_error_);
  batch_->Done(last_error_.ok() ? client_.NoWorkers(path_) : last_error_);
}

// An etcd view that starts from seed workers because etcd could not be read at creation, and
// switches to etcd (for good) as soon as it answers.
class SeededEtcdView final : public MembershipView {
 public:
  SeededEtcdView(EtcdOptions options, std::chrono::milliseconds refresh,
                 std::vector<WorkerRecord> seed)
      : options_(std::move(options)), refresh_(refresh), seed_(std::move(seed)) {
    std::sort(seed_.begin(), seed_.end(),
              [](const WorkerRecord& a, const WorkerRecord& b) { return a.id < b.id; });
    thread_ = std::thread([this] { Run(); });
  }

  ~SeededEtcdView() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  SeededEtcdView(const SeededEtcdView&) = delete;
  SeededEtcdView& operator=(const SeededEtcdView&) = delete;

  [[nodiscard]] std::vector<WorkerRecord> Workers() const override {
    if (ready_.load(std::memory_order_acquire)) return inner_->Workers();
    return seed_;
  }

  [[nodiscard]] std::uint64_t generation() const override {
    // Generations of the etcd view start at 1: offset them past the seed's.
    if (ready_.load(std::memory_order_acquire)) return kEtcdGenerations + inner_->generation();
    return 1;
  }

 private:
  static constexpr std::uint64_t kEtcdGenerations = std::uint64_t{1} << 32;

  void Run() {
    for (;;) {
      {
        std::unique_lock lock(mu_);
        if (cv_.wait_for(lock, refresh_, [this] { return stop_; })) return;
      }
      auto view = MakeEtcdView(options_, refresh_);
      if (view.ok()) {
        inner_ = std::move(view).value();
        ready_.store(true, std::memory_order_release);
        return;
      }
    }
  }

  const EtcdOptions options_;
  const std::chrono::milliseconds refresh_;
  std::vector<WorkerRecord> seed_;
  std::unique_ptr<MembershipView> inner_;  // written once, before ready_
  std::atomic<bool> ready_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  if (options.worker_hosts.empty() && options.etcd_endpoints.empty()) {
    return Status::InvalidArgument(
        "no workers given: expected worker host:port entries or etcd endpoints");
  }
  if (!options.worker_hosts.empty() && !options.etcd_endpoints.empty()) {
    return Status::InvalidArgument("give either worker hosts or etcd endpoints, not both");
  }
  for (const auto& host : options.worker_hosts) {
    EC_RETURN_IF_ERROR(client::SplitHostPort(host).status());
  }
  if (options.piece_size == 0) return Status::InvalidArgument("piece_size must be positive");
  if (options.block_size == 0 || options.block_size % options.piece_size != 0) {
    return Status::InvalidArgument(
        fmt::format("block_size ({}) must be a positive multiple of piece_size ({})",
                    options.block_size, options.piece_size));
  }
  if (options.max_parallel_requests == 0) {
    return Status::InvalidArgument("max_parallel_requests must be positive");
  }
  if (options.max_workers_per_key == 0) {
    return Status::InvalidArgument("max_workers_per_key must be positive");
  }
  if (options.connect_timeout.count() <= 0 || options.request_timeout.count() <= 0) {
    return Status::InvalidArgument("timeouts must be positive");
  }
  // A token goes into a header line: control characters would split it, and a space is never
  // part of a bearer token (RFC 6750). The message does not show the token.
  if (std::any_of(options.auth_token.begin(), options.auth_token.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u == 0x7f;
      })) {
    return Status::InvalidArgument(
        "auth_token contains a space, line break or other control character (a trailing "
        "newline from the token file?)");
  }
  if (options.breaker_backoff.count() <= 0 ||
      options.breaker_max_backoff < options.breaker_backoff) {
    return Status::InvalidArgument(
        "breaker_backoff must be positive and no longer than breaker_max_backoff");
  }
  std::unique_ptr<client::FallbackStores> fallback;
  if (options.fallback_store || !options.fallback_under_store.empty()) {
    EC_ASSIGN_OR_RETURN(
        fallback, client::FallbackStores::Create(options.fallback_under_store,
                                                 options.fallback_options, options.fallback_store));
  }
  EC_ASSIGN_OR_RETURN(auto pool, HttpPool::Create(client::HttpPoolOptions{
                                     .connect_timeout = options.connect_timeout,
                                     .request_timeout = options.request_timeout,
                                     .max_parallel_requests = options.max_parallel_requests,
                                     .io_threads = kIoThreads,
                                     .auth_token = options.auth_token,
                                     .tls = options.tls,
                                     .tls_ca = options.tls_ca,
                                 }));
  std::unique_ptr<MembershipView> view;
  if (!options.etcd_endpoints.empty()) {
    EtcdOptions etcd;
    etcd.endpoints = options.etcd_endpoints;
    etcd.cluster = options.cluster;
    etcd.request_timeout = options.etcd_timeout;
    auto etcd_view = MakeEtcdView(etcd, options.membership_refresh);
    if (etcd_view.ok()) {
      view = std::move(etcd_view).value();
    } else if (!options.seed_workers.empty()) {
      view = std::make_unique<SeededEtcdView>(std::move(etcd), options.membership_refresh,
                                              options.seed_workers);
    } else {
      return etcd_view.status();
    }
  } else {
    view = MakeStaticView(options.worker_hosts);
  }
  return std::unique_ptr<Client>(std::make_unique<ClientImpl>(
      std::move(options), std::move(view), std::move(fallback), std::move(pool)));
}

}  // namespace epochcache
