// The native client: what the Python front end (and any C++ caller) reads through.
//
// It knows the workers, plans a read into page-aligned pieces, fetches the pieces in parallel
// over keep-alive connections and lands the bytes straight in the caller's buffer. Every network
// call has a deadline; an unreachable worker is reported naming its address.
//
// Thread-safety: a Client is safe to use from many threads at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "epochcache/status.h"
#include "epochcache/under_store.h"

namespace epochcache {

struct ClientOptions {
  // "host:port" of each worker.
  std::vector<std::string> worker_hosts;
  std::chrono::milliseconds connect_timeout{3000};
  // Deadline for one request to a worker, from sending it to the last body byte.
  std::chrono::milliseconds request_timeout{60000};
  // Reads are split into pieces of this size (aligned to it), fetched in parallel.
  std::uint64_t piece_size = 1 << 20;
  // Most requests in flight at once, across all workers.
  std::size_t max_parallel_requests = 16;
  // How long a file's status is reused before asking the worker again.
  std::chrono::milliseconds metadata_ttl{10000};
};

class Client {
 public:
  virtual ~Client() = default;

  static Result<std::unique_ptr<Client>> Create(ClientOptions options);

  virtual Result<FileStatus> Stat(std::string_view path) = 0;
  virtual Result<std::vector<FileStatus>> List(std::string_view path, bool recursive) = 0;

  // Reads up to out.size() bytes of `path` at `offset` into `out`, clipped at the end of the
  // file like pread(2): returns the bytes read, 0 at or past the end.
  virtual Result<std::size_t> Read(std::string_view path, std::uint64_t offset,
                                   std::span<std::byte> out) = 0;

  // The JSON document of a worker's /v1/stats endpoint.
  virtual Result<std::string> WorkerStats(std::string_view worker_host) = 0;
};

}  // namespace epochcache
