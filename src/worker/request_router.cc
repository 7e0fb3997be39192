#include "worker/request_router.h"

#include <limits>

#include "worker/worker_json.h"

namespace epochcache::worker {
namespace {

constexpr std::string_view kHealthJson = R"({"status":"ok"})";

// A required, non-empty `path` parameter.
Result<std::string> RequirePath(const RequestTarget& target) {
  auto it = target.params.find("path");
  if (it == target.params.end() || it->second.empty()) {
    return Status::InvalidArgument("missing query parameter 'path'");
  }
  return it->second;
}

Result<bool> ParseFlag(const RequestTarget& target, std::string_view name) {
  auto it = target.params.find(name);
  if (it == target.params.end()) return false;
  const std::string& v = it->second;
  if (v.empty() || v == "1" || v == "true") return true;
  if (v == "0" || v == "false") return false;
  return Status::InvalidArgument("parameter '" + std::string(name) + "' must be 1 or 0, not '" + v +
                                 "'");
}

bool IsKnownEndpoint(std::string_view path) {
  return path == "/v1/read" || path == "/v1/stat" || path == "/v1/list" || path == "/v1/health" ||
         path == "/v1/stats";
}

}  // namespace

RequestRouter::RequestRouter(ReadService& service, std::uint64_t window_bytes) : service_(service) {
  const std::uint64_t page = service.page_size();
  window_bytes_ = std::max<std::uint64_t>(page, (window_bytes + page - 1) / page * page);
}

HttpReply RequestRouter::Handle(const HttpRequest& request) {
  Bump(service_.counters().requests);
  HttpReply reply = Route(request);
  if (reply.status >= 400) Bump(service_.counters().errors);
  return reply;
}

HttpReply RequestRouter::Route(const HttpRequest& request) {
  auto target = ParseTarget(request.target);
  if (!target.ok()) return Error(target.status());
  if (!IsKnownEndpoint(target->path)) {
    return Error(Status::NotFound("no endpoint " + target->path + " (see docs/api.md)"));
  }
  if (request.method != "GET") {
    HttpReply reply = Error(Status::InvalidArgument(target->path + " only accepts GET"));
    reply.status = 405;
    reply.headers.emplace_back("Allow", "GET");
    return reply;
  }
  if (target->path == "/v1/read") return Read(*target, request);
  if (target->path == "/v1/stat") return Stat(*target);
  if (target->path == "/v1/list") return List(*target);
  HttpReply reply;
  if (target->path == "/v1/health") {
    reply.body = std::string(kHealthJson);
  } else {
    reply.body = StatsJson(service_.counters(), service_.page_store().Stats());
  }
  return reply;
}

HttpReply RequestRouter::Read(const RequestTarget& target, const HttpRequest& request) {
  auto path = RequirePath(target);
  if (!path.ok()) return Error(path.status());
  std::string version;
  if (auto it = target.params.find("version"); it != target.params.end()) version = it->second;
  std::optional<RangeSpec> range;
  if (request.range) {
    auto parsed = ParseRange(*request.range);
    if (!parsed.ok()) return Error(parsed.status());
    range = *parsed;
  }

  // Twice at most: a file replaced between its (cached) status and the first under-store read
  // is planned again from a fresh status, unless the caller asked for a specific version.
  for (int attempt = 0;; ++attempt) {
    auto status = service_.StatForRead(*path, version);
    if (!status.ok()) return Error(status.status().WithContext("read"));
    ByteSpan span{0, status->size};
    if (range) {
      auto resolved = ResolveRange(*range, status->size);
      if (!resolved) {
        HttpReply reply = Error(
            Status::InvalidArgument("range " + *request.range + " starts at or past the end of " +
                                    *path + " (" + std::to_string(status->size) + " bytes)"));
        reply.status = 416;
        reply.headers.emplace_back("Content-Range", "bytes */" + std::to_string(status->size));
        return reply;
      }
      span = *resolved;
    }
    const std::uint64_t end = span.offset + span.length;
    auto plan = NextWindow(*status, span.offset, end);
    if (!plan.ok()) {
      if (plan.status().code() == StatusCode::kChanged) {
        service_.ForgetStatus(*path);
        if (version.empty() && attempt == 0) continue;
      }
      return Error(plan.status());
    }
    HttpReply reply;
    reply.status = range ? 206 : 200;
    reply.content_type = "application/octet-stream";
    reply.headers.emplace_back("Accept-Ranges", "bytes");
    reply.headers.emplace_back("X-Epochcache-Size", std::to_string(status->size));
    reply.headers.emplace_back("X-Epochcache-Version", status->version);
    if (range) {
      reply.headers.emplace_back("Content-Range", "bytes " + std::to_string(span.offset) + "-" +
                                                      std::to_string(end - 1) + "/" +
                                                      std::to_string(status->size));
    }
    reply.file = FileBody{.first = std::move(plan).value(), .end = end};
    return reply;
  }
}

Result<ReadPlan> RequestRouter::NextWindow(const FileStatus& status, std::uint64_t offset,
                                           std::uint64_t end) {
  if (offset >= end) {
    ReadPlan empty;
    empty.status = status;
    empty.offset = offset;
    return empty;
  }
  // Windows end on page boundaries so that no page is planned (or fetched) twice.
  const std::uint64_t window_end = (offset / window_bytes_ + 1) * window_bytes_;
  return service_.ReadVersion(status, offset, std::min(end, window_end) - offset);
}

HttpReply RequestRouter::Stat(const RequestTarget& target) {
  auto path = RequirePath(target);
  if (!path.ok()) return Error(path.status());
  auto status = service_.Stat(*path);
  if (!status.ok()) return Error(status.status().WithContext("stat"));
  HttpReply reply;
  reply.body = StatJson(*status);
  return reply;
}

HttpReply RequestRouter::List(const RequestTarget& target) {
  auto path = RequirePath(target);
  if (!path.ok()) return Error(path.status());
  auto recursive = ParseFlag(target, "recursive");
  if (!recursive.ok()) return Error(recursive.status());
  auto entries = service_.List(*path, *recursive);
  if (!entries.ok()) return Error(entries.status().WithContext("list"));
  HttpReply reply;
  reply.body = ListJson(*path, *entries);
  return reply;
}

HttpReply RequestRouter::Error(const Status& status) {
  HttpReply reply;
  reply.status = HttpStatusFor(status.code());
  reply.body = ErrorJson(status);
  return reply;
}

// Stand-ins: every request takes the miss path until the read service offers a hit path.
std::optional<HttpReply> RequestRouter::TryHandleWithoutUnderStore(const HttpRequest& /*request*/) {
  return std::nullopt;
}

std::optional<Result<ReadPlan>> RequestRouter::TryNextWindowWithoutUnderStore(
    const FileStatus& /*status*/, std::uint64_t /*offset*/, std::uint64_t /*end*/) {
  return std::nullopt;
}

}  // namespace epochcache::worker
