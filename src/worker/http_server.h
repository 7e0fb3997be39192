// The worker's HTTP/1.1 service (docs/api.md) on Boost.Beast: keep-alive connections served
// by a few I/O threads, each with its own io_context. A hit (cached status, cached pages, a
// first window of at most 1 MiB) is answered on the I/O thread that read the request; a larger
// hit goes to a small hit pool; whatever needs the under store goes to a bounded miss pool, so
// that slow remote reads never delay a hit. Page hits are sent with sendfile(2) straight from
// the page file (over plain HTTP; with TLS they are read and encrypted in user space).
//
// Limits that hold against a hostile client: a bearer token on every endpoint but
// /v1/health, a connection cap, a bounded miss queue (both answered 503 + Retry-After), a total
// deadline per response (not restarted per write) after which the connection and everything it
// holds are released, and back-off when accept(2) runs out of descriptors. A request that
// cannot be parsed (garbage, a header over 8 KiB, a body) is answered 400/431 when possible and
// its connection closed; idle connections are closed after a timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "epochcache/status.h"
#include "worker/read_service.h"

namespace epochcache::worker {

struct HttpServerOptions {
  std::string host = "127.0.0.1";  // an IP address or a host name (first address it resolves to)
  std::uint16_t port = 0;          // 0 picks a free port; see HttpServer::port()
  unsigned io_threads = 0;         // 0: the hardware concurrency
  unsigned hit_threads = 0;        // hits over 1 MiB; 0: io_threads clamped to [2, 4]
  unsigned handler_threads = 0;    // miss pool; 0: max(8, 4 * io_threads)
  // When not empty, every request but GET /v1/health must carry `Authorization: Bearer <token>`.
  std::string auth_token;
  // Listening on a non-loopback address without auth_token is refused unless this is set.
  bool insecure = false;
  // PEM certificate chain and private key: when set, the port speaks HTTPS only. Hits are then
  // read from the page files into memory and encrypted (no sendfile).
  std::string tls_cert_file;
  std::string tls_key_file;
  // Connections served at once; past it a connection gets a 503 and is closed.
  unsigned max_connections = 1024;
  // Requests waiting for a miss-pool thread; past it a request is answered 503.
  unsigned max_queued_requests = 256;
  // A connection with no complete request for this long is closed.
  std::chrono::milliseconds idle_timeout{60000};
  // From a request being read to the last byte of its response; past it the connection is
  // closed (a client that stops reading cannot hold a response's buffers and page files).
  std::chrono::milliseconds response_timeout{120000};
  // Bytes of a read planned (and on a miss held in memory) at a time.
  std::uint64_t read_window_bytes = 16ULL << 20;
  // Called (once, from an I/O thread) when the server stops serving because of an unexpected
  // error; the server has then stopped its I/O threads. Null: only logged.
  std::function<void(const std::string& why)> on_fatal;
};

// OK when `host` may be listened on: a loopback address, or any address when a token is set or
// `insecure`. The refusal names --auth-token-file and --insecure.
Status CheckListenPolicy(const std::string& host, bool has_token, bool insecure);

class HttpServer {
 public:
  // Binds, listens and starts serving on background threads. `service` must outlive the server.
  // Sets SIGPIPE to be ignored process-wide (a client hanging up mid-sendfile is an error
  // code, not a reason to die).
  static Result<std::unique_ptr<HttpServer>> Start(ReadService& service,
                                                   const HttpServerOptions& options);
  ~HttpServer();  // Stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound address and port (the real port when options.port was 0).
  [[nodiscard]] const std::string& host() const;
  [[nodiscard]] std::uint16_t port() const;

  // Stops accepting, closes every connection and joins the threads. Idempotent.
  void Stop();

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace epochcache::worker
