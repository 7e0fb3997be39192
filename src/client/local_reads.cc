#include "client/local_reads.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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

}  // namespace

LocalReads::LocalReads(std::string token, std::chrono::milliseconds timeout)
    : token_(std::move(token)), timeout_(timeout) {}

LocalReads::Channel& LocalReads::ChannelFor(const Topology& topology, const std::string& host) {
  Channel& channel = channels_[host];
  if (channel.generation == topology.generation && channel.generation != 0) return channel;
  std::string path;
  for (const auto& worker : topology.workers) {
    if (worker.address == host) path = worker.local_socket;
  }
  if (path != channel.path) {
    channel.path = std::move(path);
    channel.idle.clear();
    channel.retry_at = {};
  }
  channel.generation = topology.generation == 0 ? 1 : topology.generation;
  return channel;
}

bool LocalReads::MayServe(const Topology& topology, const std::string& host) {
  std::lock_guard lock(mu_);
  const Channel& channel = ChannelFor(topology, host);
  return !channel.path.empty() && std::chrono::steady_clock::now() >= channel.retry_at;
}

bool LocalReads::TryRead(const Topology& topology, const std::string& host,
                         const ReadTarget& target, const Piece& piece) {
  UniqueFd fd;
  std::string path;
  {
    std::lock_guard lock(mu_);
    Channel& channel = ChannelFor(topology, host);
    if (channel.path.empty() || std::chrono::steady_clock::now() < channel.retry_at) return false;
    if (forks_.Forked()) {
      // Inherited from the parent, whose answers they would read: closed here (the parent's
      // own descriptors stay open), and this process makes a connection per read.
      channel.idle.clear();
    } else if (!channel.idle.empty()) {
      fd = std::move(channel.idle.back());
      channel.idle.pop_back();
    }
    path = channel.path;
  }
  if (!fd.valid()) {
    fd = Connect(path, host);
    if (!fd.valid()) {
      Failed(host);
      return false;
    }
  }
  bool broken = false;
  const bool read = Exchange(fd.get(), target, piece, &broken);
  if (broken) {
    Failed(host);
    return false;
  }
  if (!forks_.Forked()) {
    std::lock_guard lock(mu_);
    Channel& channel = channels_[host];
    if (channel.path == path) channel.idle.push_back(std::move(fd));
  }
  if (read) {
    reads_.fetch_add(1, std::memory_order_relaxed);
    bytes_.fetch_add(piece.b - piece.a, std::memory_order_relaxed);
  }
  return read;
}

void LocalReads::Failed(const std::string& host) {
  std::lock_guard lock(mu_);
  Channel& channel = channels_[host];
  channel.retry_at = std::chrono::steady_clock::now() + kRetryAfter;
  channel.idle.clear();
}

UniqueFd LocalReads::Connect(const std::string& path, const std::string& host) const {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return {};
  std::memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
  if (!fd.valid() || !SetTimeouts(fd.get(), timeout_) ||
      ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    // Not on this host (no such file), or not ours to use: quietly HTTP.
    spdlog::debug("local reads: cannot connect to {} for worker {}: {}", path, host,
                  std::strerror(errno));  // NOLINT(concurrency-mt-unsafe)
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
  return fd;
}

bool LocalReads::Exchange(int fd, const ReadTarget& target, const Piece& piece,
                          bool* broken) const {
  const protocol::LocalRead request{.path = target.path,
                                    .version = target.version,
                                    .offset = piece.a,
                                    .length = piece.b - piece.a};
  if (!SendWithFds(fd, protocol::EncodeLocalRead(request), {}).ok()) {
    *broken = true;
    return false;
  }
  auto message = ReceiveWithFds(fd, protocol::kMaxLocalMessage, protocol::kMaxLocalSegments);
  if (!message.ok() || message->bytes.empty()) {
    *broken = true;
    return false;
  }
  auto answer = protocol::DecodeLocalReadAnswer(message->bytes);
  if (!answer.ok() || (!answer->hit && !message->fds.empty()) ||
      (answer->hit && answer->segments.size() != message->fds.size())) {
    *broken = true;
    return false;
  }
  if (!answer->hit) return false;
  // Another version, or a short answer: HTTP will tell what happened.
  if (answer->size != target.size || answer->version != target.version) return false;
  std::uint64_t total = 0;
  for (const auto& segment : answer->segments) total += segment.length;
  if (total != piece.b - piece.a) return false;
  std::size_t at = 0;
  for (std::size_t i = 0; i < answer->segments.size(); ++i) {
    const auto& segment = answer->segments[i];
    if (!ReadFully(message->fds[i].get(), segment.file_offset,
                   piece.sink.subspan(at, static_cast<std::size_t>(segment.length)))) {
      return false;
    }
    at += static_cast<std::size_t>(segment.length);
  }
  return true;
}

}  // namespace epochcache::client
