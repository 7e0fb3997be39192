// The native client: stat/list through a worker, and parallel piece reads into the caller's
// buffer. The network side lives in http_pool.cc; this file plans and checks.
#include "epochcache/client.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <utility>

#include "client/http_pool.h"
#include "client/metadata_cache.h"
#include "client/percent_encode.h"
#include "client/placement.h"

namespace epochcache {
namespace {

using client::HttpPool;
using client::HttpRequest;
using client::HttpResponse;
using json = nlohmann::json;

// A read whose object keeps changing under it gives up after this many attempts.
constexpr int kMaxChangedAttempts = 3;
constexpr std::size_t kIoThreads = 2;

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

// The Status a worker's error answer stands for: its JSON {"error","message"} when present.
Status ErrorFromResponse(const HttpResponse& r, std::string_view host, std::string_view path) {
  if (r.status == 416) {
    return Status::Changed(fmt::format("{}: the file is shorter than when it was stat'ed", path));
  }
  const json doc = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_object() && doc.contains("error") && doc["error"].is_string()) {
    StatusCode code = StatusCodeFromName(doc["error"].get<std::string>());
    if (code == StatusCode::kOk) code = StatusCode::kInternal;
    std::string message;
    if (doc.contains("message") && doc["message"].is_string()) {
      message = doc["message"].get<std::string>();
    }
    if (message.empty())
      message = fmt::format("{}: worker {} answered HTTP {}", path, host, r.status);
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

// Collects the outcome of a batch of piece requests.
class Batch {
 public:
  explicit Batch(std::size_t n) : pending_(n) {}

  // Set once a piece has failed: the pieces still waiting for a slot are not sent at all.
  [[nodiscard]] std::shared_ptr<const std::atomic<bool>> cancelled() const { return cancelled_; }

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

  Status Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return pending_ == 0; });
    return first_error_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t pending_;
  Status first_error_;
  const std::shared_ptr<std::atomic<bool>> cancelled_ = std::make_shared<std::atomic<bool>>(false);
};

class ClientImpl final : public Client {
 public:
  explicit ClientImpl(ClientOptions options)
      : options_(std::move(options)),
        placement_(options_.worker_hosts),
        cache_(options_.metadata_ttl),
        pool_(std::make_unique<HttpPool>(client::HttpPoolOptions{
            .connect_timeout = options_.connect_timeout,
            .request_timeout = options_.request_timeout,
            .max_parallel_requests = options_.max_parallel_requests,
            .io_threads = kIoThreads,
        })),
        creator_pid_(getpid()) {}

  ~ClientImpl() override {
    // In a forked child the I/O threads do not exist: tearing the pool down would wait for
    // them forever. Leaking it is the only safe choice there.
    if (getpid() != creator_pid_) (void)pool_.release();
  }

  ClientImpl(const ClientImpl&) = delete;
  ClientImpl& operator=(const ClientImpl&) = delete;

  Result<FileStatus> Stat(std::string_view path) override {
    if (auto cached = cache_.Get(path)) return *std::move(cached);
    const std::string& host = placement_.PickForMetadata(path);
    HttpRequest req{.target = "/v1/stat?path=" + client::PercentEncodeQueryComponent(path),
                    .range = std::nullopt,
                    .cancelled = nullptr};
    EC_ASSIGN_OR_RETURN(HttpResponse r, Call(host, std::move(req), path));
    if (r.status != 200) return ErrorFromResponse(r, host, path);
    const json doc = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    auto st = StatusFromJson(doc);
    if (!st.ok()) return BadAnswer(host, path, st.status());
    cache_.Put(path, *st);
    return st;
  }

  Result<std::vector<FileStatus>> List(std::string_view path, bool recursive) override {
    const std::string& host = placement_.PickForMetadata(path);
    HttpRequest req{.target = "/v1/list?path=" + client::PercentEncodeQueryComponent(path) +
                              (recursive ? "&recursive=1" : ""),
                    .range = std::nullopt,
                    .cancelled = nullptr};
    EC_ASSIGN_OR_RETURN(HttpResponse r, Call(host, std::move(req), path));
    if (r.status != 200) return ErrorFromResponse(r, host, path);
    const json doc = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_object() || !doc.contains("entries") || !doc["entries"].is_array()) {
      return BadAnswer(host, path, Status::IoError("no 'entries' array"));
    }
    std::vector<FileStatus> out;
    out.reserve(doc["entries"].size());
    for (const auto& entry : doc["entries"]) {
      auto st = StatusFromJson(entry);
      if (!st.ok()) return BadAnswer(host, path, st.status());
      // Listing a directory and then reading its files is the common pattern: prime the cache.
      if (!st->is_directory && !st->path.empty()) cache_.Put(st->path, *st);
      out.push_back(std::move(st).value());
    }
    return out;
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
    if (r.status != 200) return ErrorFromResponse(r, host, "/v1/stats");
    return std::move(r.body);
  }

 private:
  // A blocking request whose transport errors are prefixed with the path they were for.
  Result<HttpResponse> Call(const std::string& host, HttpRequest req, std::string_view path) {
    auto r = pool_->Get(host, std::move(req));
    if (!r.ok()) return r.status().WithContext(path);
    return r;
  }

  static Status BadAnswer(std::string_view host, std::string_view path, const Status& why) {
    return Status::IoError(
        fmt::format("{}: worker {} sent a malformed answer: {}", path, host, why.message()));
  }

  // Reads [offset, offset + out.size()) of version st.version into `out`, one request per
  // piece, all in flight together (the pool bounds how many).
  Status ReadPieces(std::string_view path, const FileStatus& st, std::uint64_t offset,
                    std::span<std::byte> out) {
    const std::uint64_t piece_size = options_.piece_size;
    const std::uint64_t end = offset + out.size();
    const std::uint64_t first_piece = offset / piece_size;
    const std::uint64_t last_piece = (end - 1) / piece_size;
    const std::string target = "/v1/read?path=" + client::PercentEncodeQueryComponent(path) +
                               "&version=" + client::PercentEncodeQueryComponent(st.version);
    auto batch = std::make_shared<Batch>(static_cast<std::size_t>(last_piece - first_piece + 1));
    for (std::uint64_t piece = first_piece; piece <= last_piece; ++piece) {
      const std::uint64_t a = std::max(offset, piece * piece_size);
      const std::uint64_t b = std::min(end, (piece + 1) * piece_size);
      const std::string& host = placement_.Pick(path, piece);
      auto sink =
          out.subspan(static_cast<std::size_t>(a - offset), static_cast<std::size_t>(b - a));
      pool_->AsyncGet(
          host,
          HttpRequest{
              .target = target, .range = std::make_pair(a, b - 1), .cancelled = batch->cancelled()},
          sink,
          [batch, host, path = std::string(path), a, b, size = st.size,
           version = st.version](const Result<HttpResponse>& r) {
            batch->Done(CheckPiece(r, host, path, a, b, size, version));
          });
    }
    return batch->Wait();
  }

  static Status CheckPiece(const Result<HttpResponse>& r, const std::string& host,
                           const std::string& path, std::uint64_t a, std::uint64_t b,
                           std::uint64_t size, const std::string& version) {
    if (!r.ok()) return r.status().WithContext(path);
    if (r->status != 206) {
      if (r->status / 100 == 2) {
        return Status::IoError(fmt::format("{}: worker {} answered HTTP {} to a range request",
                                           path, host, r->status));
      }
      return ErrorFromResponse(*r, host, path);
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
          fmt::format("{}: worker {} answered bytes {}-{} ({} received) to a request for {}-{}",
                      path, host, first, last, r->sink_bytes, a, b - 1));
    }
    return Status::Ok();
  }

  const ClientOptions options_;
  const client::Placement placement_;
  client::MetadataCache cache_;
  std::unique_ptr<HttpPool> pool_;
  const pid_t creator_pid_;
};

}  // namespace

Result<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  if (options.worker_hosts.empty()) {
    return Status::InvalidArgument("no worker hosts given (expected host:port entries)");
  }
  for (const auto& host : options.worker_hosts) {
    EC_RETURN_IF_ERROR(client::SplitHostPort(host).status());
  }
  if (options.piece_size == 0) return Status::InvalidArgument("piece_size must be positive");
  if (options.max_parallel_requests == 0) {
    return Status::InvalidArgument("max_parallel_requests must be positive");
  }
  if (options.connect_timeout.count() <= 0 || options.request_timeout.count() <= 0) {
    return Status::InvalidArgument("timeouts must be positive");
  }
  return std::unique_ptr<Client>(std::make_unique<ClientImpl>(std::move(options)));
}

}  // namespace epochcache
