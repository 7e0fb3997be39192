#include "worker/request_router.h"

#include <algorithm>
#include <limits>

#include "common/path_rules.h"
#include "protocol/file_status_json.h"
#include "protocol/json_text.h"
#include "protocol/wire.h"
#include "worker/worker_json.h"

namespace epochcache::worker {
namespace {

constexpr std::string_view kHealthJson = R"({"status":"ok"})";

// A required, non-empty `path` parameter.
Result<std::string> RequirePath(const protocol::RequestTarget& target) {
  auto it = target.params.find(protocol::kPathParam);
  if (it == target.params.end() || it->second.empty()) {
    return Status::InvalidArgument("missing query parameter '" + std::string(protocol::kPathParam) +
                                   "'");
  }
  return it->second;
}

Result<bool> ParseFlag(const protocol::RequestTarget& target, std::string_view name) {
  auto it = target.params.find(name);
  if (it == target.params.end()) return false;
  const std::string& v = it->second;
  if (v.empty() || v == "1" || v == "true") return true;
  if (v == "0" || v == "false") return false;
  return Status::InvalidArgument("parameter '" + std::string(name) + "' must be 1 or 0, not '" + v +
                                 "'");
}

bool HasControlCharacter(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

bool IsKnownEndpoint(std::string_view path) {
  return path == protocol::kReadPath || path == protocol::kStatPath ||
         path == protocol::kListPath || path == protocol::kHealthPath ||
         path == protocol::kStatsPath || path == protocol::kMetricsPath ||
         path == protocol::kLoadPath || path == protocol::kEvictPath;
}

bool IsPostEndpoint(std::string_view path) {
  return path == protocol::kLoadPath || path == protocol::kEvictPath;
}

// An optional decimal parameter.
Result<std::optional<std::uint64_t>> OptionalNumber(const protocol::RequestTarget& target,
                                                    std::string_view name) {
  auto it = target.params.find(name);
  if (it == target.params.end()) return std::optional<std::uint64_t>();
  auto value = ParseDecimal(it->second);
  if (!value) {
    return Status::InvalidArgument("parameter '" + std::string(name) +
                                   "' must be a decimal number, not '" + it->second + "'");
  }
  return std::optional<std::uint64_t>(*value);
}

// The parameters of a /v1/read, validated.
struct ReadRequest {
  std::string path;
  std::string version;
  std::optional<RangeSpec> range;
};

Result<ReadRequest> ParseReadRequest(const protocol::RequestTarget& target,
                                     const HttpRequest& request) {
  ReadRequest out;
  EC_ASSIGN_OR_RETURN(out.path, RequirePath(target));
  if (auto it = target.params.find(protocol::kVersionParam); it != target.params.end()) {
    // The version goes upstream as a header value (If-Match): no CR/LF or other controls.
    if (HasControlCharacter(it->second)) {
      return Status::InvalidArgument("parameter 'version' contains a control character");
    }
    out.version = it->second;
  }
  if (request.range) {
    EC_ASSIGN_OR_RETURN(RangeSpec range, ParseRange(*request.range));
    out.range = range;
  }
  return out;
}

// The parameters of a /v1/list, validated.
struct ListRequest {
  std::string path;
  bool recursive = false;
  std::string start_after;
  std::uint64_t limit = protocol::kDefaultListLimit;
};

Result<ListRequest> ParseListRequest(const protocol::RequestTarget& target) {
  ListRequest out;
  EC_ASSIGN_OR_RETURN(out.path, RequirePath(target));
  EC_ASSIGN_OR_RETURN(out.recursive, ParseFlag(target, protocol::kRecursiveParam));
  if (auto it = target.params.find(protocol::kStartAfterParam); it != target.params.end()) {
    out.start_after = it->second;
  }
  if (auto it = target.params.find(protocol::kLimitParam); it != target.params.end()) {
    auto limit = ParseDecimal(it->second);
    if (!limit || *limit == 0 || *limit > protocol::kMaxListLimit) {
      return Status::InvalidArgument("parameter 'limit' must be a number from 1 to " +
                                     std::to_string(protocol::kMaxListLimit) + ", not '" +
                                     it->second + "'");
    }
    out.limit = *limit;
  }
  return out;
}

// 416 for a range that starts at or past the end of a file of `size` bytes.
HttpReply RangeNotSatisfiable(const ReadRequest& read, const std::string& header,
                              std::uint64_t size) {
  HttpReply reply;
  reply.status = 416;
  reply.body = protocol::EncodeError(
      Status::InvalidArgument("range " + header + " starts at or past the end of " + read.path +
                              " (" + std::to_string(size) + " bytes)"));
  reply.headers.emplace_back("Content-Range", "bytes */" + std::to_string(size));
  return reply;
}

HttpReply FileReply(const FileStatus& status, const ByteSpan& span, bool ranged, ReadPlan first) {
  const std::uint64_t end = span.offset + span.length;
  HttpReply reply;
  reply.status = ranged ? 206 : 200;
  reply.content_type = "application/octet-stream";
  reply.headers.emplace_back("Accept-Ranges", "bytes");
  reply.headers.emplace_back(protocol::kSizeHeader, std::to_string(status.size));
  reply.headers.emplace_back(protocol::kVersionHeader, status.version);
  if (ranged) {
    reply.headers.emplace_back("Content-Range", "bytes " + std::to_string(span.offset) + "-" +
                                                    std::to_string(end - 1) + "/" +
                                                    std::to_string(status.size));
  }
  reply.file = FileBody{.first = std::move(first), .end = end};
  return reply;
}

}  // namespace

RequestRouter::RequestRouter(ReadService& service, std::uint64_t window_bytes) : service_(service) {
  const std::uint64_t page = service.page_size();
  window_bytes_ = std::max<std::uint64_t>(page, (window_bytes + page - 1) / page * page);
}

HttpReply RequestRouter::Handle(const HttpRequest& request) {
  Bump(service_.counters().requests);
  std::optional<HttpReply> reply =
      Route(request, Mode::kFull, std::numeric_limits<std::uint64_t>::max());
  if (!reply) reply = Error(Status::Internal("request " + request.target + " was not answered"));
  if (reply->status >= 400) Bump(service_.counters().errors);
  return *std::move(reply);
}

std::optional<HttpReply> RequestRouter::Route(const HttpRequest& request, Mode mode,
                                              std::uint64_t max_first_window_bytes) {
  auto target = protocol::ParseTarget(request.target);
  if (!target.ok()) return Error(target.status());
  if (!IsKnownEndpoint(target->path)) {
    return Error(Status::NotFound("no endpoint " + target->path + " (see docs/api.md)"));
  }
  const std::string allowed = IsPostEndpoint(target->path) ? "POST" : "GET";
  if (request.method != allowed) {
    HttpReply reply = Error(Status::InvalidArgument(target->path + " only accepts " + allowed));
    reply.status = 405;
    reply.headers.emplace_back("Allow", allowed);
    return reply;
  }
  // The path as decoded here is the path every later layer sees: refuse what could leave the
  // root (or be spelled two ways) before it reaches a cache or an under store.
  const bool takes_path = target->path == protocol::kReadPath ||
                          target->path == protocol::kStatPath ||
                          target->path == protocol::kListPath || IsPostEndpoint(target->path);
  if (auto it = target->params.find(protocol::kPathParam);
      takes_path && it != target->params.end()) {
    if (Status allowed = CheckUnderPath(it->second); !allowed.ok()) return Error(allowed);
  }
  if (target->path == protocol::kReadPath) {
    return Read(*target, request, mode, max_first_window_bytes);
  }
  if (target->path == protocol::kStatPath) return Stat(*target, mode);
  if (target->path == protocol::kListPath) return List(*target, mode);
  if (target->path == protocol::kLoadPath) return Load(*target, mode);
  if (target->path == protocol::kEvictPath) return Evict(*target, mode);
  if (target->path == protocol::kHealthPath) {
    HttpReply reply;
    reply.body = std::string(kHealthJson);
    return reply;
  }
  return Numbers(target->path);
}

HttpReply RequestRouter::Numbers(std::string_view endpoint) {
  const WorkerGauges gauges{
      .inflight_miss_bytes = service_.miss_budget().used(),
      .inflight_miss_limit = service_.miss_budget().limit(),
      .metadata_cache_bytes = service_.metadata_cache().bytes(),
      .metadata_cache_entries = service_.metadata_cache().size(),
      .uptime_seconds = metrics_.uptime_seconds(),
  };
  HttpReply reply;
  if (endpoint == protocol::kMetricsPath) {
    reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
    reply.body = metrics_.Render(service_.counters(), gauges, service_.page_store().Stats());
  } else {
    reply.body =
        StatsJson(service_.counters(), gauges, service_.page_store().Stats(), service_.roots());
  }
  return reply;
}

std::optional<HttpReply> RequestRouter::Load(const protocol::RequestTarget& target, Mode mode) {
  auto path = RequirePath(target);
  if (!path.ok()) return Error(path.status());
  auto offset = OptionalNumber(target, protocol::kOffsetParam);
  if (!offset.ok()) return Error(offset.status());
  auto length = OptionalNumber(target, protocol::kLengthParam);
  if (!length.ok()) return Error(length.status());
  // A load reads through the under store: always on the miss pool, under its limits.
  if (mode == Mode::kHitOnly) return std::nullopt;
  auto loaded = service_.Load(*path, offset->value_or(0),
                              length->value_or(std::numeric_limits<std::uint64_t>::max()));
  if (!loaded.ok()) return Error(loaded.status());
  HttpReply reply;
  reply.body =
      protocol::DumpJson({{std::string(protocol::kPathParam), *path},
                          {std::string(protocol::kVersionParam), loaded->status.version},
                          {"bytes", loaded->bytes},
                          {std::string(protocol::kBytesFetchedKey), loaded->bytes_fetched}});
  return reply;
}

std::optional<HttpReply> RequestRouter::Evict(const protocol::RequestTarget& target, Mode mode) {
  auto path = RequirePath(target);
  if (!path.ok()) return Error(path.status());
  if (mode == Mode::kHitOnly) return std::nullopt;  // it may stat the under store
  auto dropped = service_.Evict(*path);
  if (!dropped.ok()) return Error(dropped.status());
  HttpReply reply;
  reply.body = protocol::DumpJson({{std::string(protocol::kPathParam), *path},
                                   {std::string(protocol::kPagesEvictedKey), *dropped}});
  return reply;
}

std::optional<HttpReply> RequestRouter::Read(const protocol::RequestTarget& target,
                                             const HttpRequest& request, Mode mode,
                                             std::uint64_t max_first_window_bytes) {
  auto read = ParseReadRequest(target, request);
  if (!read.ok()) return Error(read.status());

  if (mode == Mode::kHitOnly) {
    // A status the under store would have to confirm (absent, stale, another version than
    // asked for) or a directory (whose refusal Handle words) goes to the full path.
    auto status = service_.CachedStatus(read->path);
    if (!status || status->is_directory) return std::nullopt;
    if (!read->version.empty() && status->version != read->version) return std::nullopt;
    ByteSpan span{0, status->size};
    if (read->range) {
      auto resolved = ResolveRange(*read->range, status->size);
      if (!resolved) return RangeNotSatisfiable(*read, *request.range, status->size);
      span = *resolved;
    }
    if (WindowEnd(span.offset, span.offset + span.length) - span.offset > max_first_window_bytes) {
      return std::nullopt;
    }
    auto plan = TryNextWindowWithoutUnderStore(*status, span.offset, span.offset + span.length);
    if (!plan) return std::nullopt;
    if (!plan->ok()) return Error(plan->status());
    return FileReply(*status, span, read->range.has_value(), std::move(*plan).value());
  }

  // Twice at most: a file replaced between its (cached) status and the first under-store read
  // is planned again from a fresh status, unless the caller asked for a specific version.
  for (int attempt = 0;; ++attempt) {
    auto status = service_.StatForRead(read->path, read->version);
    if (!status.ok()) return Error(status.status().WithContext("read"));
    ByteSpan span{0, status->size};
    if (read->range) {
      auto resolved = ResolveRange(*read->range, status->size);
      if (!resolved) return RangeNotSatisfiable(*read, *request.range, status->size);
      span = *resolved;
    }
    auto plan = NextWindow(*status, span.offset, span.offset + span.length);
    if (!plan.ok()) {
      if (plan.status().code() == StatusCode::kChanged) {
        service_.ForgetStatus(read->path);
        if (read->version.empty() && attempt == 0) continue;
      }
      return Error(plan.status());
    }
    return FileReply(*status, span, read->range.has_value(), std::move(plan).value());
  }
}

std::uint64_t RequestRouter::WindowEnd(std::uint64_t offset, std::uint64_t end) const {
  // Windows end on page boundaries so that no page is planned (or fetched) twice.
  const std::uint64_t window_index = offset / window_bytes_;
  if (window_index >= std::numeric_limits<std::uint64_t>::max() / window_bytes_ - 1) return end;
  return std::min(end, (window_index + 1) * window_bytes_);
}

Result<ReadPlan> RequestRouter::NextWindow(const FileStatus& status, std::uint64_t offset,
                                           std::uint64_t end) {
  if (offset >= end) {
    ReadPlan empty;
    empty.status = status;
    empty.offset = offset;
    return empty;
  }
  return service_.ReadVersion(status, offset, WindowEnd(offset, end) - offset);
}

std::optional<HttpReply> RequestRouter::Stat(const protocol::RequestTarget& target, Mode mode) {
  auto path = RequirePath(target);
  if (!path.ok()) return Error(path.status());
  if (mode == Mode::kHitOnly) {
    auto cached = service_.CachedStatus(*path);
    if (!cached) return std::nullopt;
    HttpReply reply;
    reply.body = protocol::EncodeFileStatus(*cached);
    return reply;
  }
  auto status = service_.Stat(*path);
  if (!status.ok()) return Error(status.status().WithContext("stat"));
  HttpReply reply;
  reply.body = protocol::EncodeFileStatus(*status);
  return reply;
}

std::optional<HttpReply> RequestRouter::List(const protocol::RequestTarget& target, Mode mode) {
  auto list = ParseListRequest(target);
  if (!list.ok()) return Error(list.status());
  if (mode == Mode::kHitOnly) return std::nullopt;  // listings always come from the under store
  auto page = service_.List(list->path, list->recursive, list->start_after, list->limit);
  if (!page.ok()) return Error(page.status().WithContext("list"));
  protocol::ListPage answer{
      .path = list->path, .entries = std::move(page->entries), .next_start_after = std::nullopt};
  if (page->more && !answer.entries.empty()) answer.next_start_after = answer.entries.back().path;
  HttpReply reply;
  reply.body = protocol::EncodeListPage(answer);
  return reply;
}

HttpReply RequestRouter::Error(const Status& status) {
  HttpReply reply;
  reply.status = protocol::HttpStatusFor(status.code());
  reply.body = protocol::EncodeError(status);
  // docs/api.md: an overloaded worker asks the client to come back (or go elsewhere) soon.
  if (protocol::IsWorkerBusy(status)) {
    reply.headers.emplace_back(protocol::kRetryAfterHeader, protocol::kRetryAfterSeconds);
  }
  return reply;
}

std::optional<HttpReply> RequestRouter::TryHandleWithoutUnderStore(
    const HttpRequest& request, std::uint64_t max_first_window_bytes) {
  std::optional<HttpReply> reply = Route(request, Mode::kHitOnly, max_first_window_bytes);
  if (!reply) return std::nullopt;
  Bump(service_.counters().requests);
  if (reply->status >= 400) Bump(service_.counters().errors);
  return reply;
}

std::optional<Result<ReadPlan>> RequestRouter::TryNextWindowWithoutUnderStore(
    const FileStatus& status, std::uint64_t offset, std::uint64_t end) {
  if (offset >= end) return NextWindow(status, offset, end);  // empty: no store at all
  return service_.TryReadCached(status, offset, WindowEnd(offset, end) - offset);
}

}  // namespace epochcache::worker
