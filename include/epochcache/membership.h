// Cluster membership: which workers exist, where they listen, and how long they have been up.
//
// Workers register in etcd v3 under a lease that they keep alive: one key per worker under a
// per-cluster prefix, holding a JSON WorkerRecord. A worker that cannot renew its lease stops
// being advertised when the lease expires; a cleanly stopped worker revokes it at once. Clients
// read the records (refreshing in the background) and keep their last good view while etcd is
// unreachable, so etcd is never on the read path.
//
// Thread-safety: all classes here are safe to use from many threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "epochcache/status.h"

namespace epochcache {

struct WorkerRecord {
  // Stable across restarts (kept in the worker's first cache dir), so a returning worker gets
  // its keys, and its still-warm cache, back.
  std::string id;
  std::string address;  // "host:port" that clients connect to
  std::uint64_t capacity_bytes = 0;
  std::int64_t start_time_ms = 0;  // Unix time
  // The worker's local read socket (--local-socket), absolute; empty when it has none. A
  // client on the same host reads cached pages through it (docs/api.md, "Local reads").
  std::string local_socket = {};

  [[nodiscard]] std::string ToJson() const;
  static Result<WorkerRecord> FromJson(std::string_view json);
  bool operator==(const WorkerRecord&) const = default;
};

struct EtcdOptions {
  // "127.0.0.1:2379" or "http://127.0.0.1:2379"; tried in order until one answers.
  std::vector<std::string> endpoints;
  std::string cluster = "default";  // records live under /epochcache/<cluster>/workers/<id>
  std::chrono::seconds lease_ttl{10};
  std::chrono::milliseconds request_timeout{2000};
};

// The etcd key prefix of a cluster's worker records.
std::string WorkerKeyPrefix(std::string_view cluster);

// Reads the worker id stored in `cache_dir`/worker-id, creating a new random one if absent.
Result<std::string> LoadOrCreateWorkerId(const std::string& cache_dir);

// Worker side: keeps one record registered while it lives.
class WorkerRegistration {
 public:
  virtual ~WorkerRegistration() = default;  // revokes the lease: the worker leaves at once

  // Starts registering in the background; etcd being down now is not an error (the worker
  // keeps trying, and serves meanwhile), but bad options are.
  static Result<std::unique_ptr<WorkerRegistration>> Start(EtcdOptions options,
                                                           WorkerRecord record);

  // Whether the record is currently held under a live lease.
  [[nodiscard]] virtual bool registered() const = 0;
};

// Client side: the current set of workers.
class MembershipView {
 public:
  virtual ~MembershipView() = default;

  // The last good list of workers, sorted by id. Never blocks on the network.
  [[nodiscard]] virtual std::vector<WorkerRecord> Workers() const = 0;
  // Changes whenever the list does; lets callers cache what they derive from it.
  [[nodiscard]] virtual std::uint64_t generation() const = 0;
};

// A fixed list of "host:port" workers; each worker's id is its address.
std::unique_ptr<MembershipView> MakeStaticView(const std::vector<std::string>& hosts);

// Workers registered in etcd, refreshed every `refresh`. Fails if etcd cannot be read at all
// now (there is no last good view yet); later failures keep the last good view.
Result<std::unique_ptr<MembershipView>> MakeEtcdView(
    const EtcdOptions& options,
    std::chrono::milliseconds refresh = std::chrono::milliseconds(1000));

}  // namespace epochcache
