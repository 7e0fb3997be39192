// Maps a parsed HTTP request onto the read service and builds the reply, per docs/api.md.
// Transport-free: the Beast server (http_server.cc) parses and writes; this decides.
//
// A file reply is produced window by window so that a large range is never held in memory
// whole: the reply carries the first window's plan, and the sender asks NextWindow for the rest
// after the header is on the wire (a failure then can only abort the connection, which the
// client sees as a short body).
//
// Every `path` parameter (decoded once, by protocol::ParseTarget) must pass CheckUnderPath before
// anything else looks at it; a refusal is 403 permission_denied.
//
// POST /v1/load and /v1/evict change what the worker caches; every other endpoint is GET only.
//
// Requests have two ways in. Handle answers anything and may block on the under store.
// TryHandleWithoutUnderStore answers only what needs no under store at all (health, stats,
// malformed or refused requests, a stat from the fresh metadata cache, a read whose status is
// cached and whose first window is wholly in the page store) and otherwise declines, so that a
// server can run it on threads no slow remote read ever occupies.
//
// Thread-safety: safe to use from many threads at once.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "protocol/target.h"
#include "worker/http_util.h"
#include "worker/metrics.h"
#include "worker/read_service.h"

namespace epochcache::worker {

struct HttpRequest {
  std::string method;                // "GET", ...
  std::string target;                // "/v1/read?path=..."
  std::optional<std::string> range;  // the Range header, if present
};

struct FileBody {
  ReadPlan first;         // the first window; its status is the version served
  std::uint64_t end = 0;  // one past the last byte of the whole reply
};

struct HttpReply {
  unsigned status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type/Length
  std::string content_type = "application/json";
  std::string body;              // unless `file` is set
  std::optional<FileBody> file;  // the body is these file bytes
};

class RequestRouter {
 public:
  // `window_bytes`: how many bytes of a read are planned (and, on a miss, held in memory)
  // at a time; rounded up to whole pages.
  RequestRouter(ReadService& service, std::uint64_t window_bytes);

  HttpReply Handle(const HttpRequest& request);

  // The plan of the file bytes [offset, min(end, offset + window)) of the version `status`.
  Result<ReadPlan> NextWindow(const FileStatus& status, std::uint64_t offset, std::uint64_t end);

  [[nodiscard]] ReadService& service() { return service_; }
  [[nodiscard]] WorkerMetrics& metrics() { return metrics_; }

  // The hit path: the reply when it can be made without calling (or waiting on) the under store
  // or a concurrent fetch: health, stats, errors that need no under store, a stat from the
  // fresh metadata cache, a read whose status is cached and fresh and whose first window's
  // pages are all in the page store. Otherwise nullopt (the caller then runs Handle, on the
  // miss pool). Counts the request only when it answers.
  // `max_first_window_bytes` also declines a read whose first window is longer: a server
  // answering small hits on its I/O threads sends larger ones elsewhere before any page is
  // opened or verified.
  std::optional<HttpReply> TryHandleWithoutUnderStore(
      const HttpRequest& request,
      std::uint64_t max_first_window_bytes = std::numeric_limits<std::uint64_t>::max());
  // Likewise for NextWindow: the plan when every page of the window is in the page store,
  // else nullopt.
  std::optional<Result<ReadPlan>> TryNextWindowWithoutUnderStore(const FileStatus& status,
                                                                 std::uint64_t offset,
                                                                 std::uint64_t end);

 private:
  // kHitOnly: decline (nullopt) whatever would need the under store.
  enum class Mode : std::uint8_t { kFull, kHitOnly };

  std::optional<HttpReply> Route(const HttpRequest& request, Mode mode,
                                 std::uint64_t max_first_window_bytes);
  std::optional<HttpReply> Read(const protocol::RequestTarget& target, const HttpRequest& request,
                                Mode mode, std::uint64_t max_first_window_bytes);
  std::optional<HttpReply> Stat(const protocol::RequestTarget& target, Mode mode);
  std::optional<HttpReply> List(const protocol::RequestTarget& target, Mode mode);
  std::optional<HttpReply> Load(const protocol::RequestTarget& target, Mode mode);
  std::optional<HttpReply> Evict(const protocol::RequestTarget& target, Mode mode);
  // /v1/stats and /metrics: the worker's numbers.
  HttpReply Numbers(std::string_view endpoint);
  // The end of the window that starts at `offset`, clipped to `end`.
  [[nodiscard]] std::uint64_t WindowEnd(std::uint64_t offset, std::uint64_t end) const;
  static HttpReply Error(const Status& status);

  ReadService& service_;
  std::uint64_t window_bytes_;
  WorkerMetrics metrics_;
};

}  // namespace epochcache::worker
