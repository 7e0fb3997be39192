// The worker's HTTP/1.1 service (docs/api.md) on Boost.Beast: keep-alive connections served
// by a few I/O threads, with the blocking work (page store and under-store reads) done on a
// separate handler pool so that a slow remote read never stalls other connections. Page hits
// are sent with sendfile(2) straight from the page file.
//
// A request that cannot be parsed (garbage, a header over 8 KiB, a body) is answered 400/431
// when possible and its connection closed; idle or stalled connections are closed after a
// timeout. Nothing a client sends can crash the server.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "epochcache/status.h"
#include "worker/read_service.h"

namespace epochcache::worker {

struct HttpServerOptions {
  std::string host = "0.0.0.0";  // an IP address or a host name (first address it resolves to)
  std::uint16_t port = 0;        // 0 picks a free port; see HttpServer::port()
  unsigned io_threads = 0;       // 0: the hardware concurrency
  unsigned handler_threads = 0;  // 0: max(8, 4 * io_threads)
  // A connection with no complete request for this long is closed.
  std::chrono::milliseconds idle_timeout{60000};
  // A response the client does not accept for this long is abandoned (connection closed).
  std::chrono::milliseconds write_timeout{60000};
  // Bytes of a read planned (and on a miss held in memory) at a time.
  std::uint64_t read_window_bytes = 16ULL << 20;
};

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
