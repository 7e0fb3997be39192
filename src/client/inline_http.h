// HTTP/1.1 requests to workers made on the calling thread: a blocking exchange over a pooled
// keep-alive plain-TCP connection, with every wait bounded by the request's deadlines.
//
// A cache hit is a few tens of microseconds of work on each side; handing it to a background
// I/O thread and waiting for the answer costs two context switches and more than the request.
// HttpPool::Fetch uses this for plain TCP (TLS keeps the asynchronous path).
//
// Thread-safety: InlineConnections is safe to use from many threads at once; each exchange
// owns its connection while it runs.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/fork_count.h"
#include "client/http_pool.h"
#include "epochcache/status.h"

namespace epochcache::client {

class InlineConnection;

// Idle keep-alive connections per worker. A forked child never takes or returns its parent's
// connections: both processes would read answers off the same sockets.
class InlineConnections {
 public:
  InlineConnections();
  ~InlineConnections();
  InlineConnections(const InlineConnections&) = delete;
  InlineConnections& operator=(const InlineConnections&) = delete;

  std::unique_ptr<InlineConnection> Take(const std::string& host);
  void Put(const std::string& host, std::unique_ptr<InlineConnection> conn);

 private:
  // Asked on every request, so without a getpid() system call each time.
  const ForkGuard forks_;
  std::mutex mu_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<InlineConnection>>>
      idle_;  // GUARDED_BY(mu_)
};

// Sends `request` to worker `host` ("host:port") over plain TCP on the calling thread and reads
// the answer, with the same contract as HttpPool::AsyncGet for `sink`.
Result<HttpResponse> InlineExchange(InlineConnections& idle, const HttpPoolOptions& options,
                                    const std::string& host, const HttpRequest& request,
                                    std::span<std::byte> sink);

}  // namespace epochcache::client
