// The native client: what the Python front end (and any C++ caller) reads through.
//
// It knows the workers (a static list, or etcd), places each block of a file on a worker by
// rendezvous hashing over stable worker ids, plans a read into page-aligned pieces, fetches the
// pieces in parallel over keep-alive connections and lands the bytes straight in the caller's
// buffer. Every network call has a deadline.
//
// Failures: a piece whose worker refuses, times out or answers 5xx is asked of the next distinct
// worker for its block (which reads through and caches), and after `max_workers_per_key` workers
// read from the under store directly (when a fallback store is configured). A per-worker circuit
// breaker skips a worker that just failed for a backoff period, so a dead worker costs one
// timeout, not one per request. Answers about the request itself (not_found,
// permission_denied, invalid_argument, changed) and a refused token (unauthenticated: every
// worker of a cluster shares the token) are final and not retried elsewhere.
//
// Thread-safety: a Client is safe to use from many threads at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "epochcache/membership.h"
#include "epochcache/status.h"
#include "epochcache/under_store.h"

namespace epochcache {

struct ClientOptions {
  // Where the workers are: either a static list of "host:port" (each worker's id is its
  // address), or etcd endpoints ("host:port" or "http://host:port") holding the records that
  // workers of `cluster` register. Exactly one of the two must be given.
  std::vector<std::string> worker_hosts;
  std::vector<std::string> etcd_endpoints;
  std::string cluster = "default";
  // How often the etcd view is refreshed; while etcd is unreachable the last good view is kept.
  std::chrono::milliseconds membership_refresh{1000};
  std::chrono::milliseconds etcd_timeout{2000};
  // Workers to start from when etcd cannot be read when the client is created (a process
  // started while etcd is down, given the view of the process that started it); the client
  // keeps trying etcd in the background and follows it once it answers. Without them, an
  // unreachable etcd at creation is an error.
  std::vector<WorkerRecord> seed_workers;
  std::chrono::milliseconds connect_timeout{3000};
  // Sent to every worker as "Authorization: Bearer <token>" when not empty (workers started
  // with --auth-token-file require it). Never appears in an error message.
  std::string auth_token;
  // HTTPS to workers (started with --tls-cert/--tls-key): `tls_ca` is a PEM CA bundle that
  // must have signed each worker's certificate; `tls` alone uses the system's CAs. The
  // certificate must name the host (or IP address) of the worker's "host:port" address.
  bool tls = false;
  std::string tls_ca;
  // Local reads: a worker on this host that advertises a local socket (--local-socket) is
  // asked there first for cached pages, which are then read from its page files directly, with
  // no TCP round trip (docs/api.md, "Local reads"). Misses and every other answer still go over
  // HTTP. Off: always HTTP.
  bool local_reads = true;
  // Deadline for one request to a worker, from sending it to the last body byte.
  std::chrono::milliseconds request_timeout{60000};
  // Reads are split into pieces of this size (aligned to it), fetched in parallel.
  std::uint64_t piece_size = 1 << 20;
  // Files are placed in blocks of this size (a multiple of piece_size): each block has its own
  // owner, so a large file is served by several workers at once; a file no larger than one
  // block is placed whole. The key of block i is BlockKey(path, i).
  std::uint64_t block_size = std::uint64_t{4} << 20;
  // Most requests in flight at once, across all workers.
  std::size_t max_parallel_requests = 16;
  // How long a file's status is reused before asking the worker again.
  std::chrono::milliseconds metadata_ttl{10000};

  // Most distinct workers asked for one piece (or stat, or list) before giving up on workers.
  std::size_t max_workers_per_key = 3;
  // Circuit breaker: a worker that failed at the transport level (refused, timed out, dropped)
  // is skipped for `breaker_backoff`, doubling on every failed probe up to
  // `breaker_max_backoff`; when the period is over one probe request is let through, and its
  // success closes the breaker.
  std::chrono::milliseconds breaker_backoff{1000};
  std::chrono::milliseconds breaker_max_backoff{30000};

  // Direct reads when no worker can serve: the root URI of the under store the client opens
  // itself ("/" or "file:///data" for local files; "s3://" or "http(s)://" with no bucket or
  // host open one store per bucket or host as needed; "s3://bucket" a fixed one). Empty: no
  // direct reads, worker errors are returned. `fallback_options` carry the credentials; they
  // are used only for these reads and never sent to workers.
  std::string fallback_under_store;
  UnderStoreOptions fallback_options;
  // An already open fallback store (tests, embedding); takes precedence over the URI.
  std::shared_ptr<UnderStore> fallback_store;
};

// Counters since the client was created.
struct ClientStats {
  std::uint64_t failovers = 0;           // requests retried on another worker
  std::uint64_t direct_reads = 0;        // pieces read from the under store directly
  std::uint64_t direct_read_bytes = 0;   // bytes of those pieces
  std::uint64_t direct_metadata = 0;     // stats and lists answered by the under store directly
  std::uint64_t breaker_opens = 0;       // times a worker's breaker opened (or re-opened)
  std::uint64_t breaker_skips = 0;       // requests that skipped a worker with an open breaker
  std::uint64_t worker_errors = 0;       // failed requests to workers (transport or 5xx)
  std::uint64_t placement_rebuilds = 0;  // membership changes seen
  std::uint64_t local_reads = 0;         // pieces read from page files via a local socket
  std::uint64_t local_read_bytes = 0;    // bytes of those pieces
  std::uint64_t local_kept_reads = 0;    // of those pieces, read from kept page files alone
  std::uint64_t local_stats = 0;         // statuses learned through a local socket
};

// Preloading (Client::Load): each page-aligned block of each file is sent to its owner (the
// worker a read of it would ask first) as POST /v1/load, at most `max_inflight_per_worker`
// at a time per worker.
struct LoadOptions {
  std::size_t max_inflight_per_worker = 4;
  // Plan only: stat and list, compute owners, send nothing.
  bool dry_run = false;
};

// Where a load stands; every count covers the files found so far.
struct LoadProgress {
  std::uint64_t files_total = 0;
  std::uint64_t files_done = 0;  // every block loaded (or failed)
  std::uint64_t bytes_total = 0;
  std::uint64_t bytes_done = 0;     // of blocks answered (loaded or already cached)
  std::uint64_t bytes_fetched = 0;  // that the workers read from the under store
  std::uint64_t blocks_total = 0;
  std::uint64_t blocks_done = 0;
  std::uint64_t blocks_skipped = 0;  // already cached: the worker fetched nothing
  std::uint64_t blocks_failed = 0;
};

struct LoadFailure {
  std::string path;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::string worker;  // the owner asked (empty when the file could not even be listed)
  Status status;
};

struct LoadSummary {
  LoadProgress totals;
  std::vector<LoadFailure> failures;
  // Bytes planned per owner address, sorted by address (what --dry-run prints).
  std::vector<std::pair<std::string, std::uint64_t>> bytes_per_worker;
};

using LoadProgressCallback = std::function<void(const LoadProgress&)>;

// What Client::Evict did: pages dropped across workers, and the workers that failed.
struct EvictSummary {
  std::uint64_t files = 0;
  std::uint64_t pages_evicted = 0;
  std::vector<std::pair<std::string, Status>> failures;  // worker address, why
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

  // Reads up to `max_length` bytes of `path` at `offset` into a buffer of exactly the length
  // to be read, which `allocate(length)` provides (and must return with that size): for a
  // caller that sizes its buffer by the file (a read to the end) without a stat of its own.
  // The length is clipped at the end of the version being read, inside the client's one retry
  // of a file that changes under the read, so a size taken from an old version never cuts a
  // new one short. `allocate` is called once per attempt (on the calling thread); the bytes
  // are in the buffer it returned last. Returns the bytes read.
  virtual Result<std::size_t> ReadSized(
      std::string_view path, std::uint64_t offset, std::uint64_t max_length,
      const std::function<std::span<std::byte>(std::size_t)>& allocate) = 0;

  // The JSON document of a worker's /v1/stats endpoint.
  virtual Result<std::string> WorkerStats(std::string_view worker_host) = 0;

  // POSTs `target` (built from src/protocol/wire.h names) to one worker, without failover:
  // the 200 answer's body, or the error it stands for.
  virtual Result<std::string> WorkerPost(std::string_view worker_host, std::string_view target) = 0;

  // Makes every block of `paths` (files, or directories taken recursively) resident on its
  // owner; blocks already cached transfer nothing. `progress` (may be null) is called from
  // load threads, one call at a time, after every block and once at the end. Fails only when
  // nothing could be planned (no workers, a path that does not exist); per-block failures are
  // in the summary. Defined in src/client/load.cc.
  Result<LoadSummary> Load(const std::vector<std::string>& paths, const LoadOptions& options,
                           const LoadProgressCallback& progress);

  // Drops every cached page of `paths` (files, or directories taken recursively) on every
  // known worker (POST /v1/evict). Idempotent. Defined in src/client/load.cc.
  Result<EvictSummary> Evict(const std::vector<std::string>& paths);

  // Files are placed in blocks of this size (ClientOptions::block_size).
  [[nodiscard]] virtual std::uint64_t block_size() const = 0;

  // The workers currently known (from the membership view), sorted by id.
  [[nodiscard]] virtual std::vector<WorkerRecord> Workers() const = 0;
  // Up to `n` worker addresses for block `block` of `path`, owner first (what a read would try).
  [[nodiscard]] virtual std::vector<std::string> Locate(std::string_view path, std::uint64_t block,
                                                        std::size_t n) const = 0;
  [[nodiscard]] virtual ClientStats stats() const = 0;
};

}  // namespace epochcache
