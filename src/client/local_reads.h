// Local reads on the client side (docs/api.md, "Local reads"): a piece whose worker runs on
// this host and advertises a local socket is asked for there first; a hit comes back as the
// worker's open page files, which are pread(2) straight into the caller's buffer. Anything
// else (a decline, a socket that fails) returns false and the piece goes over HTTP as before,
// so local reads can only make a read faster, never change its answer.
//
// The page files of an answer (whole pages when the worker has them whole) are kept for as
// long as the worker allows (its hello answer's keep_ms: at most its verification interval),
// at most max_kept of them (256 by default; and all clients of the process together at most an
// eighth of its descriptor limit), least recently used dropped first: a later read of
// bytes they hold of the same file version is a pread and nothing else, with no message to the
// worker. A page file never changes once written (the worker replaces, never rewrites), so a kept
// descriptor keeps serving exactly the bytes it was handed for; a new version of the file is
// another key. A kept descriptor of a page the worker has since evicted holds its disk space until
// dropped (expired ones are dropped at the next read).
//
// A status the client does not have is asked for the same way, as a read of the first byte
// without a version (TryStat): the answer carries the worker's cached status and the first
// page, so opening and reading a small file cached there is one message, not an HTTP stat and
// a message.
//
// Only a process of this user (or root) is trusted as the worker (SO_PEERCRED): whoever else
// holds a socket path never gets the token. Only regular files are read from.
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
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/fork_count.h"
#include "client/piece_read.h"
#include "client/placement_view.h"
#include "common/clock.h"
#include "common/fd_passing.h"
#include "protocol/local_wire.h"

namespace epochcache::client {

class LocalReads {
 public:
  // How long a socket that failed (refused, wrong worker, broken) is left alone.
  static constexpr std::chrono::seconds kRetryAfter{30};
  // Kept page files at most, by default. Every client of the process together keeps at most an
  // eighth of its descriptor limit (RLIMIT_NOFILE).
  static constexpr std::size_t kDefaultMaxKept = 256;
  // Idle connections pooled per worker; more are closed (each takes a slot of the worker's).
  static constexpr std::size_t kMaxIdlePerWorker = 4;

  // Where a piece's bytes came from.
  enum class Outcome {
    kDeclined,  // nowhere: ask over HTTP
    kKept,      // page files kept from earlier answers (no message to the worker)
    kAnswered,  // the worker's answer
  };

  // `token` is sent in each connection's hello; `timeout` bounds every wait on a socket (an
  // answer never waits on the under store, so the client's connect timeout is used);
  // `clock` (which must outlive this) times kept page files and failed sockets.
  LocalReads(std::string token, std::chrono::milliseconds timeout, Clock& clock,
             std::size_t max_kept = kDefaultMaxKept);
  ~LocalReads();
  LocalReads(const LocalReads&) = delete;
  LocalReads& operator=(const LocalReads&) = delete;

  // Reads `piece` of `target` into piece.sink from page files kept from earlier answers, or
  // else from worker `host` (an address of `topology`) through its local socket.
  Outcome TryRead(const Topology& topology, const std::string& host, const ReadTarget& target,
                  const Piece& piece);

  // The status of `path` as worker `host` (an address of `topology`) has it cached, asked
  // through its local socket: the same answer as its HTTP stat when it has one, in one message
  // that also hands over the page around the first byte, kept for the reads that follow.
  // nullopt: not cached there, or no usable socket (ask over HTTP).
  std::optional<FileStatus> TryStat(const Topology& topology, const std::string& host,
                                    const std::string& path);

  // Whether `host` has a local socket that is not known to fail (cheap: no system call).
  [[nodiscard]] bool MayServe(const Topology& topology, const std::string& host);

  // Pieces read locally (from kept page files or a worker's answer), their bytes, and of those
  // pieces the ones that needed no message to a worker.
  [[nodiscard]] std::uint64_t reads() const { return reads_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t kept_reads() const {
    return kept_reads_.load(std::memory_order_relaxed);
  }
  // Statuses learned through a local socket (TryStat).
  [[nodiscard]] std::uint64_t stats() const { return stats_.load(std::memory_order_relaxed); }
  // Page files kept now.
  [[nodiscard]] std::size_t kept() const;

 private:
  struct Channel {
    std::string path;    // empty: the worker has no local socket
    bool known = false;  // path was looked up in the topology of `generation`
    std::uint64_t generation = 0;
    Clock::time_point retry_at{};
    std::chrono::milliseconds keep{0};  // from the hello answer
    std::vector<ScopedFd> idle;
  };

  // File bytes [object_offset, object_offset + length) at file_offset of `fd`.
  struct Kept {
    std::shared_ptr<const ScopedFd> fd;
    std::uint64_t file_offset = 0;
    std::uint64_t length = 0;
    Clock::time_point expires{};
    std::list<std::pair<std::string, std::uint64_t>>::iterator lru;
  };
  // Where a piece's bytes are: `length` bytes at `file_offset` of `fd` go to sink + `at`.
  struct Part {
    std::shared_ptr<const ScopedFd> fd;
    std::uint64_t file_offset = 0;
    std::uint64_t length = 0;
    std::size_t at = 0;
  };

  // The channel of `host` as of `topology`, made or refreshed. REQUIRES: mu_ held.
  Channel& ChannelFor(const Topology& topology, const std::string& host);
  // A connection to `path` whose hello answer named `host` (its keep time in `*keep`); invalid
  // (and logged) otherwise.
  ScopedFd Connect(const std::string& path, const std::string& host,
                   std::chrono::milliseconds* keep) const;
  // A checked answer: as many regular files as segments for a hit, none for a decline.
  struct Answer {
    protocol::LocalReadAnswer answer;
    std::vector<ScopedFd> fds;
  };

  // Runs `exchange(fd, keep, &broken)` on a connection to the socket of `host` (pooled or new;
  // a pooled one that turns out broken is replaced once). false: no usable connection, and the
  // socket is left alone for kRetryAfter.
  bool OnConnection(const Topology& topology, const std::string& host,
                    const std::function<void(int, std::chrono::milliseconds, bool*)>& exchange);
  // Sends `request` on `fd` and takes its checked answer; nullopt with `broken` set when the
  // connection cannot be used again.
  static std::optional<Answer> Ask(int fd, const protocol::LocalRead& request, bool* broken);
  // Whether `segments` are contiguous, within a file of `size` bytes, and cover [from, to).
  static bool Covers(const std::vector<protocol::LocalSegment>& segments, std::uint64_t size,
                     std::uint64_t from, std::uint64_t to);
  // One request and answer on `fd`; true when `piece` was read. `broken` is set when the
  // connection cannot be used again. Keeps the answer's page files for `keep`.
  bool Exchange(int fd, const ReadTarget& target, const Piece& piece,
                std::chrono::milliseconds keep, bool* broken);
  // A read of the first byte without a version: the cached status, if the worker has it, and
  // the answer's page files kept for `keep`.
  std::optional<FileStatus> StatExchange(int fd, const std::string& path,
                                         std::chrono::milliseconds keep, bool* broken);
  void Failed(const std::string& host);

  // preads every part into `sink`; false if one failed.
  static bool ReadParts(const std::vector<Part>& parts, std::span<std::byte> sink);
  // The parts of `piece` that kept page files hold, if they hold all of it.
  std::optional<std::vector<Part>> FindKept(const ReadTarget& target, const Piece& piece);
  void Keep(const std::string& key, std::uint64_t object_offset, std::uint64_t file_offset,
            std::uint64_t length, std::shared_ptr<const ScopedFd> fd, Clock::time_point expires);
  // Drops every expired kept page file, at most once a second. REQUIRES: mu_ held.
  void SweepExpiredLocked(Clock::time_point now);
  // Drops one kept page file (its descriptor closes once no read holds it). REQUIRES: mu_ held.
  void DropKept(std::map<std::uint64_t, Kept>& by_offset,
                std::map<std::uint64_t, Kept>::iterator it);

  const std::string token_;
  const std::chrono::milliseconds timeout_;
  Clock& clock_;
  const std::size_t max_kept_;
  const ForkGuard forks_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Channel> channels_;  // GUARDED_BY(mu_)
  // By path and version ("path\0version"), then by object offset.
  std::unordered_map<std::string, std::map<std::uint64_t, Kept>> kept_;  // GUARDED_BY(mu_)
  std::list<std::pair<std::string, std::uint64_t>> lru_;  // most recent first; GUARDED_BY(mu_)
  Clock::time_point next_sweep_{};                        // GUARDED_BY(mu_)
  std::atomic<std::uint64_t> reads_{0};
  std::atomic<std::uint64_t> bytes_{0};
  std::atomic<std::uint64_t> kept_reads_{0};
  std::atomic<std::uint64_t> stats_{0};
};

}  // namespace epochcache::client
