// Local reads on the client side (docs/api.md, "Local reads"): a piece whose worker runs on
// this host and advertises a local socket is asked for there first; a hit comes back as the
// worker's open page files, which are pread(2) straight into the caller's buffer. Anything
// else (a decline, a socket that fails) returns false and the piece goes over HTTP as before,
// so local reads can only make a read faster, never change its answer.
//
// A socket is used for a worker only after its hello answer names that worker's address (a
// socket path can name another worker, e.g. in another container), and one that fails is not
// tried again for kRetryAfter. Connections are pooled per worker; a forked child never uses its
// parent's.
//
// Thread-safety: safe to use from many threads at once; each exchange owns its connection.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/fork_count.h"
#include "client/piece_read.h"
#include "client/placement_view.h"
#include "common/fd_passing.h"

namespace epochcache::client {

class LocalReads {
 public:
  // How long a socket that failed (refused, wrong worker, broken) is left alone.
  static constexpr std::chrono::seconds kRetryAfter{30};

  // `token` is sent in each connection's hello; `timeout` bounds every wait on a socket.
  LocalReads(std::string token, std::chrono::milliseconds timeout);
  LocalReads(const LocalReads&) = delete;
  LocalReads& operator=(const LocalReads&) = delete;

  // Reads `piece` of `target` from worker `host` (an address of `topology`) through its local
  // socket into piece.sink. True when the bytes are there; false: ask over HTTP.
  bool TryRead(const Topology& topology, const std::string& host, const ReadTarget& target,
               const Piece& piece);

  // Whether `host` has a local socket that is not known to fail (cheap: no system call).
  [[nodiscard]] bool MayServe(const Topology& topology, const std::string& host);

  [[nodiscard]] std::uint64_t reads() const { return reads_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

 private:
  struct Channel {
    std::string path;  // empty: the worker has no local socket
    std::uint64_t generation = 0;
    std::chrono::steady_clock::time_point retry_at{};
    std::vector<UniqueFd> idle;
  };

  // The channel of `host` as of `topology`, made or refreshed. REQUIRES: mu_ held.
  Channel& ChannelFor(const Topology& topology, const std::string& host);
  // A connection to `path` whose hello answer named `host`; invalid (and logged) otherwise.
  UniqueFd Connect(const std::string& path, const std::string& host) const;
  // One request and answer on `fd`; true when `piece` was read. `broken` is set when the
  // connection cannot be used again.
  bool Exchange(int fd, const ReadTarget& target, const Piece& piece, bool* broken) const;
  void Failed(const std::string& host);

  const std::string token_;
  const std::chrono::milliseconds timeout_;
  const ForkGuard forks_;
  std::mutex mu_;
  std::unordered_map<std::string, Channel> channels_;  // GUARDED_BY(mu_)
  std::atomic<std::uint64_t> reads_{0};
  std::atomic<std::uint64_t> bytes_{0};
};

}  // namespace epochcache::client
