#include "client/local_reads.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>
#include <limits>
#include <utility>

#include "protocol/local_wire.h"

namespace epochcache::client {
namespace {

// Every wait on the socket is bounded by `timeout` (SO_RCVTIMEO / SO_SNDTIMEO), so blocking
// calls need no poll of their own.
bool SetTimeouts(int fd, std::chrono::milliseconds timeout) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(us / 1000000);
  tv.tv_usec = static_cast<suseconds_t>(us % 1000000);
  return ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
         ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0;
}

// preads all of [offset, offset + out.size()) of `fd`; false on an error or an early end.
bool ReadFully(int fd, std::uint64_t offset, std::span<std::byte> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t got =
        ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    done += static_cast<std::size_t>(got);
  }
  return true;
}

// Descriptors kept by every LocalReads of the process, and the most there may be: an eighth of
// the descriptor limit when the first client was made. fsspec makes a client per thread, and
// together they must leave the process most of its descriptors.
std::atomic<std::size_t> kept_in_process{0};

std::size_t ProcessKeptLimit() {
  static const std::size_t limit = [] {
    rlimit nofile{};
    if (::getrlimit(RLIMIT_NOFILE, &nofile) != 0 || nofile.rlim_cur == RLIM_INFINITY) {
      return std::size_t{4096};
    }
    return static_cast<std::size_t>(nofile.rlim_cur / 8);
  }();
  return limit;
}

std::string KeyOf(std::string_view path, std::string_view version) {
  std::string key(path);
  key.push_back('\0');
  key += version;
  return key;
}

std::string KeyOf(const ReadTarget& target) { return KeyOf(target.path, target.version); }

// The longest a page file is kept, whatever a worker says.
constexpr std::uint64_t kMaxKeepMs = 60000;

}  // namespace

bool LocalReads::ReadParts(const std::vector<Part>& parts, std::span<std::byte> sink) {
  for (const auto& part : parts) {
    if (!ReadFully(part.fd->get(), part.file_offset,
                   sink.subspan(part.at, static_cast<std::size_t>(part.length)))) {
      return false;
    }
  }
  return true;
}

LocalReads::LocalReads(std::string token, std::chrono::milliseconds timeout, Clock& clock,
                       std::size_t max_kept)
    : token_(std::move(token)), timeout_(timeout), clock_(clock), max_kept_(max_kept) {
  (void)ProcessKeptLimit();  // read the limit now, before the caller may change it
}

LocalReads::~LocalReads() { kept_in_process.fetch_sub(lru_.size()); }

LocalReads::Channel& LocalReads::ChannelFor(const Topology& topology, const std::string& host) {
  Channel& channel = channels_[host];
  if (channel.known && channel.generation == topology.generation) return channel;
  std::string path;
  for (const auto& worker : topology.workers) {
    if (worker.address == host) path = worker.local_socket;
  }
  if (path != channel.path) {
    channel.path = std::move(path);
    channel.idle.clear();
    channel.retry_at = {};
  }
  channel.known = true;
  channel.generation = topology.generation;
  return channel;
}

bool LocalReads::MayServe(const Topology& topology, const std::string& host) {
  std::lock_guard lock(mu_);
  const Channel& channel = ChannelFor(topology, host);
  return !channel.path.empty() && clock_.Now() >= channel.retry_at;
}

std::size_t LocalReads::kept() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

LocalReads::Outcome LocalReads::TryRead(const Topology& topology, const std::string& host,
                                        const ReadTarget& target, const Piece& piece) {
  if (auto parts = FindKept(target, piece)) {
    if (ReadParts(*parts, piece.sink)) {
      kept_reads_.fetch_add(1, std::memory_order_relaxed);
      reads_.fetch_add(1, std::memory_order_relaxed);
      bytes_.fetch_add(piece.b - piece.a, std::memory_order_relaxed);
      return Outcome::kKept;
    }
  }
  // A request the worker could not decode would cost the connection: HTTP serves it instead.
  if (token_.size() > protocol::kMaxLocalToken || target.path.size() > protocol::kMaxLocalPath ||
      target.version.size() > protocol::kMaxLocalVersion) {
    return Outcome::kDeclined;
  }
  bool read = false;
  if (!OnConnection(topology, host, [&](int fd, std::chrono::milliseconds keep, bool* broken) {
        read = Exchange(fd, target, piece, keep, broken);
      })) {
    return Outcome::kDeclined;
  }
  if (!read) return Outcome::kDeclined;
  reads_.fetch_add(1, std::memory_order_relaxed);
  bytes_.fetch_add(piece.b - piece.a, std::memory_order_relaxed);
  return Outcome::kAnswered;
}

std::optional<FileStatus> LocalReads::TryStat(const Topology& topology, const std::string& host,
                                              const std::string& path) {
  if (token_.size() > protocol::kMaxLocalToken || path.size() > protocol::kMaxLocalPath) {
    return std::nullopt;
  }
  std::optional<FileStatus> status;
  if (!OnConnection(topology, host, [&](int fd, std::chrono::milliseconds keep, bool* broken) {
        status = StatExchange(fd, path, keep, broken);
      })) {
    return std::nullopt;
  }
  if (status) stats_.fetch_add(1, std::memory_order_relaxed);
  return status;
}

bool LocalReads::OnConnection(
    const Topology& topology, const std::string& host,
    const std::function<void(int, std::chrono::milliseconds, bool*)>& exchange) {
  ScopedFd fd;
  std::string path;
  std::chrono::milliseconds keep{0};
  {
    std::lock_guard lock(mu_);
    Channel& channel = ChannelFor(topology, host);
    if (channel.path.empty() || clock_.Now() < channel.retry_at) return false;
    if (forks_.Forked()) {
      // Inherited from the parent, whose answers they would read: closed here (the parent's
      // own descriptors stay open), and this process makes a connection per exchange.
      channel.idle.clear();
    } else if (!channel.idle.empty()) {
      fd = std::move(channel.idle.back());
      channel.idle.pop_back();
    }
    path = channel.path;
    keep = channel.keep;
  }
  bool broken = false;
  // A pooled connection may have died with a restarted worker: one more try on a new one
  // before the socket is left alone.
  for (bool pooled = fd.valid();; pooled = false) {
    if (!fd.valid()) fd = Connect(path, host, &keep);
    if (!fd.valid()) break;
    broken = false;
    exchange(fd.get(), keep, &broken);
    if (!broken || !pooled) break;
    fd.reset();
  }
  if (!fd.valid() || broken) {
    Failed(host);
    return false;
  }
  if (!forks_.Forked()) {
    std::lock_guard lock(mu_);
    Channel& channel = channels_[host];
    if (channel.path == path) {
      channel.keep = keep;
      // A few per worker: each holds one of the worker's connection slots.
      if (channel.idle.size() < kMaxIdlePerWorker) channel.idle.push_back(std::move(fd));
    }
  }
  return true;
}

void LocalReads::Failed(const std::string& host) {
  std::lock_guard lock(mu_);
  Channel& channel = channels_[host];
  channel.retry_at = clock_.Now() + kRetryAfter;
  channel.idle.clear();
}

ScopedFd LocalReads::Connect(const std::string& path, const std::string& host,
                             std::chrono::milliseconds* keep) const {
  const auto addr = UnixSocketAddress(path);
  if (!addr.ok()) return {};
  ScopedFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
  if (!fd.valid() || !SetTimeouts(fd.get(), timeout_) ||
      ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0) {
    // Not on this host (no such file), or not ours to use: quietly HTTP.
    spdlog::debug("local reads: cannot connect to {} for worker {}: {}", path, host,
                  std::strerror(errno));  // NOLINT(concurrency-mt-unsafe)
    return {};
  }
  // Only a process of this user (or root) gets the token or is trusted for bytes: whoever
  // else holds the path (a socket left in a shared directory while the worker is down) is not
  // the worker.
  ucred peer{};
  socklen_t peer_len = sizeof(peer);
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &peer_len) != 0 ||
      (peer.uid != ::geteuid() && peer.uid != 0)) {
    spdlog::warn("local reads: {} is served by uid {}, not this user or root; not used", path,
                 peer.uid);
    return {};
  }
  // A refused connection (another user, too many connections) has its answer waiting and
  // may already be closed: the answer is read even when the hello could not be sent.
  (void)SendWithFds(fd.get(), protocol::EncodeLocalHello({.token = token_}), {});
  auto message = ReceiveWithFds(fd.get(), protocol::kMaxLocalMessage, 0);
  if (!message.ok() || message->bytes.empty()) return {};
  auto answer = protocol::DecodeLocalHelloAnswer(message->bytes);
  if (!answer.ok()) {
    spdlog::warn("local reads: {} for worker {}: {}", path, host, answer.status().message());
    return {};
  }
  if (!answer->accepted) {
    spdlog::warn("local reads: the worker on {} refused: {}", path, answer->reason);
    return {};
  }
  if (answer->address != host) {
    spdlog::warn("local reads: {} is the socket of worker {}, not of {}; not used for it", path,
                 answer->address, host);
    return {};
  }
  // Bounded here too: a kept page file is never read unverified for long.
  *keep = std::chrono::milliseconds(std::min<std::uint64_t>(answer->keep_ms, kMaxKeepMs));
  return fd;
}

std::optional<LocalReads::Answer> LocalReads::Ask(int fd, const protocol::LocalRead& request,
                                                  bool* broken) {
  if (!SendWithFds(fd, protocol::EncodeLocalRead(request), {}).ok()) {
    *broken = true;
    return std::nullopt;
  }
  auto message = ReceiveWithFds(fd, protocol::kMaxLocalMessage, protocol::kMaxLocalSegments);
  if (!message.ok() || message->bytes.empty()) {
    *broken = true;
    return std::nullopt;
  }
  auto answer = protocol::DecodeLocalReadAnswer(message->bytes);
  if (!answer.ok() || (!answer->hit && !message->fds.empty()) ||
      (answer->hit && answer->segments.size() != message->fds.size())) {
    *broken = true;
    return std::nullopt;
  }
  // Page files only: a pipe or a socket could make pread wait forever.
  for (const auto& received : message->fds) {
    struct stat st {};
    if (::fstat(received.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
      *broken = true;
      return std::nullopt;
    }
  }
  return Answer{*std::move(answer), std::move(message->fds)};
}

bool LocalReads::Covers(const std::vector<protocol::LocalSegment>& segments, std::uint64_t size,
                        std::uint64_t from, std::uint64_t to) {
  if (segments.empty() || segments.front().object_offset > from) return false;
  std::uint64_t end = segments.front().object_offset;
  for (const auto& segment : segments) {
    if (segment.object_offset != end || segment.length > size - end) return false;
    end += segment.length;
  }
  return end >= to;
}

bool LocalReads::Exchange(int fd, const ReadTarget& target, const Piece& piece,
                          std::chrono::milliseconds keep, bool* broken) {
  auto got = Ask(fd,
                 {.path = target.path,
                  .version = target.version,
                  .offset = piece.a,
                  .length = piece.b - piece.a},
                 broken);
  if (!got || !got->answer.hit) return false;
  // Another version: HTTP will tell what happened.
  const FileStatus& status = *got->answer.status;
  if (status.size != target.size || status.version != target.version) return false;
  // The segments must be contiguous, within the file, and cover the piece.
  const auto& segments = got->answer.segments;
  if (!Covers(segments, target.size, piece.a, piece.b)) return false;

  const Clock::time_point expires = clock_.Now() + keep;
  const std::string key = KeyOf(target);
  std::vector<Part> parts;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const auto& segment = segments[i];
    auto fd_of_segment = std::make_shared<const ScopedFd>(std::move(got->fds[i]));
    const std::uint64_t from = std::max(piece.a, segment.object_offset);
    const std::uint64_t to = std::min(piece.b, segment.object_offset + segment.length);
    if (from < to) {
      parts.push_back({fd_of_segment, segment.file_offset + (from - segment.object_offset),
                       to - from, static_cast<std::size_t>(from - piece.a)});
    }
    if (keep.count() > 0 && max_kept_ > 0) {
      Keep(key, segment.object_offset, segment.file_offset, segment.length,
           std::move(fd_of_segment), expires);
    }
  }
  // A descriptor not kept closes once its part is read.
  return ReadParts(parts, piece.sink);
}

std::optional<FileStatus> LocalReads::StatExchange(int fd, const std::string& path,
                                                   std::chrono::milliseconds keep, bool* broken) {
  // No version: whichever the worker has cached, with the page around the first byte.
  auto got = Ask(fd, {.path = path, .version = "", .offset = 0, .length = 1}, broken);
  if (!got || !got->answer.status) return std::nullopt;
  const FileStatus& status = *got->answer.status;
  const auto& segments = got->answer.segments;
  if (got->answer.hit && !status.is_directory && keep.count() > 0 && max_kept_ > 0 &&
      Covers(segments, status.size, 0, std::min<std::uint64_t>(1, status.size))) {
    // Kept for the reads that usually follow a stat (opening a file), under the version they
    // will ask for: those bytes are then a pread with no message.
    const Clock::time_point expires = clock_.Now() + keep;
    const std::string key = KeyOf(path, status.version);
    for (std::size_t i = 0; i < segments.size(); ++i) {
      Keep(key, segments[i].object_offset, segments[i].file_offset, segments[i].length,
           std::make_shared<const ScopedFd>(std::move(got->fds[i])), expires);
    }
  }
  return status;
}

void LocalReads::Keep(const std::string& key, std::uint64_t object_offset,
                      std::uint64_t file_offset, std::uint64_t length,
                      std::shared_ptr<const ScopedFd> fd, Clock::time_point expires) {
  std::lock_guard lock(mu_);
  SweepExpiredLocked(clock_.Now());
  auto& by_offset = kept_[key];
  if (auto it = by_offset.find(object_offset); it != by_offset.end()) {
    DropKept(by_offset, it);
  }
  lru_.emplace_front(key, object_offset);
  by_offset.emplace(object_offset, Kept{std::move(fd), file_offset, length, expires, lru_.begin()});
  kept_in_process.fetch_add(1);
  // Over this client's bound or the process's: the least recently used go (possibly this one).
  while (!lru_.empty() &&
         (lru_.size() > max_kept_ || kept_in_process.load() > ProcessKeptLimit())) {
    const auto [oldest_key, oldest_offset] = lru_.back();
    auto file = kept_.find(oldest_key);
    DropKept(file->second, file->second.find(oldest_offset));
    if (file->second.empty()) kept_.erase(file);
  }
}

void LocalReads::SweepExpiredLocked(Clock::time_point now) {
  // At most once a second: a few hundred entries at most, and reads in between drop what they
  // find expired themselves.
  if (now < next_sweep_) return;
  next_sweep_ = now + std::chrono::seconds(1);
  for (auto file = kept_.begin(); file != kept_.end();) {
    auto& by_offset = file->second;
    for (auto it = by_offset.begin(); it != by_offset.end();) {
      auto next = std::next(it);
      if (it->second.expires <= now) DropKept(by_offset, it);
      it = next;
    }
    file = by_offset.empty() ? kept_.erase(file) : std::next(file);
  }
}

void LocalReads::DropKept(std::map<std::uint64_t, Kept>& by_offset,
                          std::map<std::uint64_t, Kept>::iterator it) {
  lru_.erase(it->second.lru);
  by_offset.erase(it);
  kept_in_process.fetch_sub(1);
}

std::optional<std::vector<LocalReads::Part>> LocalReads::FindKept(const ReadTarget& target,
                                                                  const Piece& piece) {
  std::lock_guard lock(mu_);
  if (kept_.empty()) return std::nullopt;
  const Clock::time_point now = clock_.Now();
  SweepExpiredLocked(now);
  auto file = kept_.find(KeyOf(target));
  if (file == kept_.end()) return std::nullopt;
  auto& by_offset = file->second;
  std::vector<Part> parts;
  for (std::uint64_t at = piece.a; at < piece.b;) {
    auto it = by_offset.upper_bound(at);
    if (it == by_offset.begin()) return std::nullopt;
    --it;
    Kept& kept = it->second;
    if (kept.expires <= now) {
      DropKept(by_offset, it);
      if (by_offset.empty()) kept_.erase(file);
      return std::nullopt;
    }
    if (it->first + kept.length <= at) return std::nullopt;
    const std::uint64_t to = std::min(piece.b, it->first + kept.length);
    parts.push_back({kept.fd, kept.file_offset + (at - it->first), to - at,
                     static_cast<std::size_t>(at - piece.a)});
    lru_.splice(lru_.begin(), lru_, kept.lru);
    at = to;
  }
  return parts;
}

}  // namespace epochcache::client
