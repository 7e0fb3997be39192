// HTTP/1.1 GETs to workers over keep-alive connections: asynchronous ones run on a small
// background io_context; blocking ones (Fetch, Get) run on the calling thread over plain TCP
// (inline_http.h), so that a cache hit costs no thread hand-off.
//
// This header is free of Boost so that only http_pool.cc pays for compiling Beast.
//
// With TLS, each connection is a Beast ssl_stream: the handshake verifies the worker's chain and
// its host name (SNI is sent for names only) or IP address; the body is still decrypted
// straight into the caller's buffer.
//
// Each request has two deadlines: connecting (connect_timeout) and the request itself, from
// sending it to its last body byte (request_timeout). Idle connections are kept per worker and
// reused; a request that fails on a connection before any response byte arrived (typically a
// keep-alive connection the worker had closed) is retried once on a fresh connection.
//
// Thread-safety: safe to use from many threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "epochcache/status.h"

namespace epochcache::client {

struct HttpPoolOptions {
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds request_timeout{60000};
  // Requests in flight at once across all workers; more are queued.
  std::size_t max_parallel_requests = 16;
  std::size_t io_threads = 2;
  // Largest body accepted into HttpResponse::body (JSON answers, error bodies).
  std::size_t max_body = std::size_t{256} << 20;
  // When not empty, every request carries "Authorization: Bearer <auth_token>".
  std::string auth_token;
  // HTTPS: verify each worker's certificate chain against `tls_ca` (a PEM CA bundle) or, when
  // that is empty, the system's CAs, and its name or IP address against the worker address.
  bool tls = false;
  std::string tls_ca;
};

struct HttpRequest {
  std::string target;  // "/v1/read?path=..."
  // Inclusive byte range for a Range header, when set.
  std::optional<std::pair<std::uint64_t, std::uint64_t>> range;
  // When set and true by the time the request would start (it may wait behind
  // max_parallel_requests), it is not sent and fails with kRejected. Lets a read drop the
  // rest of its pieces once one has failed.
  std::shared_ptr<const std::atomic<bool>> cancelled;
  // POST (with an empty body) instead of GET: /v1/load and /v1/evict.
  bool post = false;
};

struct HttpResponse {
  unsigned status = 0;
  std::string content_range;   // the Content-Range header, if any
  std::string version;         // the X-Epochcache-Version header, if any
  std::string body;            // the body, unless it went to the caller's sink
  std::size_t sink_bytes = 0;  // bytes written to the sink
};

using HttpCallback = std::function<void(Result<HttpResponse>)>;

struct HostPort {
  std::string host;
  std::string port;
};
// Splits "host:port", "[v6]:port" (an "http://" prefix is tolerated).
Result<HostPort> SplitHostPort(std::string_view address);

class HttpPool {
 public:
  // Fails when the TLS CA bundle cannot be loaded.
  static Result<std::unique_ptr<HttpPool>> Create(HttpPoolOptions options);
  ~HttpPool();
  HttpPool(const HttpPool&) = delete;
  HttpPool& operator=(const HttpPool&) = delete;

  // Sends GET `request` to worker `host` ("host:port") and calls `done` on an I/O thread.
  // When `sink` is non-null and the answer is 2xx, the body must be exactly sink.size() bytes
  // long and is read straight into `sink`; any other body goes to HttpResponse::body.
  // REQUIRES: `sink` stays valid until `done` runs.
  void AsyncGet(std::string host, HttpRequest request, std::span<std::byte> sink,
                HttpCallback done);

  // Blocking form of AsyncGet. Over plain TCP, when fewer than max_parallel_requests are in
  // flight, the request runs on the calling thread (on keep-alive connections of its own);
  // otherwise (and with TLS) it goes through AsyncGet and waits. Must not be called from an
  // I/O thread.
  Result<HttpResponse> Fetch(const std::string& host, const HttpRequest& request,
                             std::span<std::byte> sink);

  // Fetch without a sink.
  Result<HttpResponse> Get(const std::string& host, const HttpRequest& request);

  class Impl;

 private:
  explicit HttpPool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace epochcache::client
