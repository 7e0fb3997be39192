#include "worker/local_server.h"

#include <fmt/format.h>
#include <linux/sockios.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>
#include <utility>
#include <vector>

#include "common/fd_passing.h"
#include "protocol/local_wire.h"
#include "worker/bearer_token.h"

namespace epochcache::worker {
namespace {

namespace asio = boost::asio;
using protocol::LocalMessageType;

// How long a refused connection may take to send its hello and read the refusal, and how many
// may do so at once.
constexpr std::chrono::seconds kRefusalLinger{1};
constexpr unsigned kMaxLingering = 64;
// How long accepting waits after running out of descriptors.
constexpr std::chrono::milliseconds kAcceptBackoff{100};
// A read is answered with the whole pages around it when they are all cached and total at
// most this: the client keeps their descriptors for reads nearby (client/local_reads.h).
constexpr std::uint64_t kMaxWholePageBytes = std::uint64_t{4} << 20;

std::string ErrnoText(int err) { return std::strerror(err); }  // NOLINT(concurrency-mt-unsafe)

// Removes a socket file left by a worker that is gone; refuses to touch anything else.
Status ClearStaleSocket(const std::string& path, const sockaddr_un& addr) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return Status::IoError(fmt::format("--local-socket {}: {}", path, ErrnoText(errno)));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return Status::InvalidArgument(
        fmt::format("--local-socket {}: the path exists and is not a socket", path));
  }
  // Non-blocking: a live process whose backlog is full answers EAGAIN instead of hanging us.
  ScopedFd probe(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
  if (probe.valid() &&
      (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0 ||
       errno == EAGAIN)) {
    return Status::InvalidArgument(
        fmt::format("--local-socket {}: another process is serving on it (another worker?)", path));
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::IoError(
        fmt::format("--local-socket {}: cannot remove the old socket: {}", path, ErrnoText(errno)));
  }
  return Status::Ok();
}

// The socket's directory must not let another user replace the socket between its bind and
// chmod (or later): not writable by others unless sticky (like /tmp), where only the owner of a
// file may remove or rename it.
Status CheckSocketDirectory(const std::string& path) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  struct stat st {};
  if (::stat(dir.empty() ? "." : dir.c_str(), &st) != 0) {
    return Status::InvalidArgument(
        fmt::format("--local-socket {}: its directory: {}", path, ErrnoText(errno)));
  }
  if ((st.st_mode & S_IWOTH) != 0 && (st.st_mode & S_ISVTX) == 0) {
    return Status::InvalidArgument(fmt::format(
        "--local-socket {}: its directory is writable by every user and not sticky, so another "
        "user could replace the socket; use a directory of the worker's user",
        path));
  }
  return Status::Ok();
}

// The uid of the process at the other end of `fd`, or nullopt.
std::optional<uid_t> PeerUid(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return std::nullopt;
  return cred.uid;
}

}  // namespace

struct LocalServer::Impl {
  Impl(ReadService& s, LocalServerOptions o)
      : service(s),
        options(std::move(o)),
        token(options.auth_token),
        io(std::make_unique<asio::io_context>(1)) {
    listener.emplace(*io);
    accept_backoff.emplace(*io);
  }

  class Connection;

  void Accept();
  // Accepts what waits; true when out of descriptors (or memory): wait before trying again.
  bool OnAcceptable();
  // Answers a refused connection and closes it (see Connection).
  void Refuse(ScopedFd fd, std::string_view why);

  void Stop() {
    if (stopped.exchange(true)) return;
    io->stop();
    for (auto& t : threads) t.join();
    threads.clear();
    listener.reset();  // before the io_context they belong to
    accept_backoff.reset();
    // Destroys every connection (their handlers hold them), closing their sockets, so that a
    // client's pooled connection sees the end at once instead of waiting for an answer.
    io.reset();
    // Only the socket this server created: a successor may already have replaced it.
    struct stat st {};
    if (::lstat(options.path.c_str(), &st) == 0 && st.st_ino == socket_inode &&
        st.st_dev == socket_device) {
      ::unlink(options.path.c_str());
    }
  }

  ReadService& service;
  const LocalServerOptions options;
  const BearerToken token;
  const uid_t own_uid = ::geteuid();
  std::unique_ptr<asio::io_context> io;  // null once stopped
  std::optional<asio::posix::stream_descriptor> listener;
  std::optional<asio::steady_timer> accept_backoff;
  ino_t socket_inode = 0;
  dev_t socket_device = 0;
  std::atomic<unsigned> connections{0};
  std::atomic<unsigned> lingering{0};  // refused connections waiting to take their answer
  std::atomic<bool> stopped{false};
  std::vector<std::thread> threads;  // one (see local_server.h)
};

// One client connection: reads a message, answers it, waits for the next.
//
// A refused connection (`refusal` set) is answered with the refusal in place of a hello answer
// and closed once its first message has been read: closing a Unix socket with a message still
// unread would reset the connection and lose the answer. It waits at most kRefusalLinger.
class LocalServer::Impl::Connection : public std::enable_shared_from_this<Connection> {
 public:
  explicit Connection(Impl& server, std::string refusal = {})
      : server_(server), socket_(*server.io), refusal_(std::move(refusal)), deadline_(*server.io) {
    (refusal_.empty() ? server_.connections : server_.lingering).fetch_add(1);
  }
  ~Connection() { (refusal_.empty() ? server_.connections : server_.lingering).fetch_sub(1); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Takes `fd` and starts serving it; false (and `fd` closed) if the event loop refused it.
  bool Start(ScopedFd fd) {
    boost::system::error_code ec;
    socket_.assign(fd.get(), ec);
    if (ec) return false;
    (void)fd.release();
    // A refused connection has a moment to take its refusal, a new one to say hello.
    if (refusal_.empty()) {
      Arm(server_.options.hello_timeout, "no hello in time");
    } else {
      Arm(kRefusalLinger, "a refused connection sent nothing");
    }
    Serve();
    return true;
  }

  void Serve() {
    // A handful of messages per turn, so one busy client cannot hold the thread.
    for (int turn = 0; turn < 16; ++turn) {
      auto message =
          ReceiveWithFds(socket_.native_handle(), protocol::kMaxLocalMessage, 0, MSG_DONTWAIT);
      if (!message.ok()) {
        if (message.status().code() == StatusCode::kUnavailable) break;  // nothing yet
        return Close(message.status().message());
      }
      if (message->bytes.empty()) return Close("the client hung up");
      // One request at a time: a request sent before the previous answer was read would let
      // a client that never reads queue answers (and page file descriptors) without bound.
      int unread = 0;
      if (::ioctl(socket_.native_handle(), SIOCOUTQ, &unread) != 0 || unread > 0) {
        return Close("a request before the previous answer was read");
      }
      if (auto why = Answer(message->bytes)) return Close(*why);
      Arm(server_.options.idle_timeout, "idle");
    }
    socket_.async_wait(asio::posix::stream_descriptor::wait_read,
                       [self = shared_from_this()](const boost::system::error_code& ec) {
                         if (!ec) self->Serve();
                       });
  }

 private:
  // Answers one message; a reason to close the connection instead.
  std::optional<std::string> Answer(std::string_view bytes) {
    if (!refusal_.empty()) {
      protocol::LocalHelloAnswer answer;
      answer.reason = refusal_;
      (void)Send(protocol::EncodeLocalHelloAnswer(answer), {});
      return refusal_;
    }
    auto type = protocol::PeekLocalMessage(bytes);
    if (!type.ok()) return type.status().message();
    if (!greeted_) {
      if (*type != LocalMessageType::kHello) return "the first message was not a hello";
      auto hello = protocol::DecodeLocalHello(bytes);
      if (!hello.ok()) return hello.status().message();
      protocol::LocalHelloAnswer answer;
      answer.accepted = !server_.token.required() || server_.token.Matches(hello->token);
      if (!answer.accepted) {
        answer.reason = hello->token.empty()
                            ? "this worker requires its bearer token (--auth-token-file)"
                            : "the bearer token is not valid";
      }
      answer.address = server_.options.advertised_address;
      answer.keep_ms = static_cast<std::uint64_t>(std::max<std::int64_t>(
          0, std::chrono::duration_cast<std::chrono::milliseconds>(server_.options.keep).count()));
      if (!Send(protocol::EncodeLocalHelloAnswer(answer), {}))
        return "the hello answer was not taken";
      if (!answer.accepted) return "a hello without a valid token";
      greeted_ = true;
      return std::nullopt;
    }
    if (*type != LocalMessageType::kRead) return "a message other than a read after the hello";
    auto read = protocol::DecodeLocalRead(bytes);
    if (!read.ok()) return read.status().message();
    return AnswerRead(*read);
  }

  std::optional<std::string> AnswerRead(const protocol::LocalRead& read) {
    WorkerCounters& counters = server_.service.counters();
    protocol::LocalReadAnswer answer;
    ReadPlan plan;
    if (auto why = Plan(read, &plan, &answer.status)) {
      answer.reason = std::move(*why);
      Bump(counters.local_declines);
      if (!Send(protocol::EncodeLocalReadAnswer(answer), {})) return "an answer was not taken";
      return std::nullopt;
    }
    answer.hit = true;
    answer.status = plan.status;
    std::vector<int> fds;
    fds.reserve(plan.segments.size());
    answer.segments.reserve(plan.segments.size());
    std::uint64_t object_offset = plan.offset;
    for (const ReadSegment& segment : plan.segments) {
      answer.segments.push_back({object_offset, segment.page.file_offset(), segment.length});
      fds.push_back(segment.page.fd());
      object_offset += segment.length;
    }
    // Counted before the answer leaves, so that a client that has it sees it counted.
    Bump(counters.local_reads);
    Bump(counters.local_read_bytes, std::min(read.length, plan.status.size - read.offset));
    if (!Send(protocol::EncodeLocalReadAnswer(answer), fds)) return "an answer was not taken";
    return std::nullopt;
  }

  // The plan of a read wholly served by cached pages, or why not; `*known` is the cached
  // status when the protocol can carry it (a decline tells it too: a read that asks for no
  // version is also the client's stat).
  std::optional<std::string> Plan(const protocol::LocalRead& read, ReadPlan* plan,
                                  std::optional<FileStatus>* known) {
    ReadService& service = server_.service;
    if (read.length > server_.options.max_read_bytes) {
      return fmt::format("longer than {} bytes", server_.options.max_read_bytes);
    }
    auto status = service.CachedStatus(read.path);
    if (!status) return std::string("the status is not cached");
    if (status->version.size() > protocol::kMaxLocalVersion ||
        status->path.size() > protocol::kMaxLocalPath) {
      return std::string("a path or version too long for this protocol");
    }
    *known = *status;
    if (status->is_directory) return std::string("a directory");
    if (!read.version.empty() && status->version != read.version) {
      return std::string("another version is cached");
    }
    if (read.offset >= status->size) return std::string("the range starts past the end");
    const std::uint64_t length = std::min(read.length, status->size - read.offset);
    if (length == 0) return std::string("an empty range");
    auto cached = service.TryReadCachedPages(*status, read.offset, length, kMaxWholePageBytes);
    if (!cached) return std::string("not every page is cached");
    if (!cached->ok()) return cached->status().message();
    if (cached->value().segments.size() > protocol::kMaxLocalSegments) {
      return fmt::format("more than {} pages", protocol::kMaxLocalSegments);
    }
    *plan = std::move(*cached).value();
    return std::nullopt;
  }

  bool Send(const std::string& bytes, std::span<const int> fds) {
    // Never waits: the client reads each answer before its next request, so a full socket
    // means a client that does not read, which loses its connection.
    return SendWithFds(socket_.native_handle(), bytes, fds, MSG_DONTWAIT).ok();
  }

  void Close(std::string_view why) {
    spdlog::debug("local read connection closed: {}", why);
    boost::system::error_code ignored;
    socket_.close(ignored);
    deadline_.cancel();
  }

  // Closes the connection after `after` unless re-armed first.
  void Arm(std::chrono::milliseconds after, const char* why) {
    deadline_.expires_after(after);
    deadline_.async_wait([self = shared_from_this(), why](const boost::system::error_code& ec) {
      if (!ec) self->Close(why);
    });
  }

  Impl& server_;
  asio::posix::stream_descriptor socket_;
  const std::string refusal_;
  asio::steady_timer deadline_;
  bool greeted_ = false;
};

void LocalServer::Impl::Accept() {
  listener->async_wait(asio::posix::stream_descriptor::wait_read,
                       [this](const boost::system::error_code& ec) {
                         if (ec) return;
                         bool out_of_descriptors = false;
                         try {
                           out_of_descriptors = OnAcceptable();
                         } catch (const std::exception& e) {
                           spdlog::error("local read socket: {}", e.what());
                         }
                         if (!out_of_descriptors) return Accept();
                         // The listener stays readable: wait before trying again rather than
                         // spin (the pending connections wait in the backlog).
                         accept_backoff->expires_after(kAcceptBackoff);
                         accept_backoff->async_wait([this](const boost::system::error_code& e) {
                           if (!e) Accept();
                         });
                       });
}

bool LocalServer::Impl::OnAcceptable() {
  // Bounded, so that a flood of connections cannot hold this thread.
  for (int i = 0; i < 64; ++i) {
    ScopedFd fd(
        ::accept4(listener->native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!fd.valid()) {
      const int err = errno;
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        // At most one line per backoff, as the listener is only retried after it.
        spdlog::warn("local read socket: accept failed: {}; retrying in {} ms", ErrnoText(err),
                     kAcceptBackoff.count());
        return true;
      }
      if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR && err != ECONNABORTED) {
        spdlog::warn("local read socket: accept failed: {}", ErrnoText(err));
      }
      return false;
    }
    const auto uid = PeerUid(fd.get());
    if (!uid || (*uid != own_uid && *uid != 0)) {
      Refuse(std::move(fd), "local reads are served only to the worker's own user");
      continue;
    }
    if (connections.load() >= options.max_connections) {
      Refuse(std::move(fd), "too many local read connections");
      continue;
    }
    (void)std::make_shared<Connection>(*this)->Start(std::move(fd));
  }
  return false;
}

void LocalServer::Impl::Refuse(ScopedFd fd, std::string_view why) {
  Bump(service.counters().local_refusals);
  // Past kMaxLingering refusals in wait, closed without a word: a flood of connections cannot
  // hold descriptors through the refusals themselves.
  if (lingering.load() >= kMaxLingering) return;
  (void)std::make_shared<Connection>(*this, std::string(why))->Start(std::move(fd));
}

Result<std::unique_ptr<LocalServer>> LocalServer::Start(ReadService& service,
                                                        const LocalServerOptions& options) {
  auto address = UnixSocketAddress(options.path);
  if (!address.ok()) return address.status().WithContext("--local-socket");
  const sockaddr_un& addr = *address;
  EC_RETURN_IF_ERROR(CheckSocketDirectory(options.path));
  EC_RETURN_IF_ERROR(ClearStaleSocket(options.path, addr));
  auto impl = std::make_unique<Impl>(service, options);
  ScopedFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) {
    return Status::IoError(fmt::format("local read socket: {}", ErrnoText(errno)));
  }
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Status::IoError(
        fmt::format("--local-socket {}: cannot bind: {}", options.path, ErrnoText(errno)));
  }
  // The owner only. Until this chmod the mode is what the umask left; the peer check on
  // accept covers that moment.
  struct stat st {};
  if (::chmod(options.path.c_str(), 0600) != 0 || ::lstat(options.path.c_str(), &st) != 0 ||
      ::listen(fd.get(), SOMAXCONN) != 0) {
    const int err = errno;
    ::unlink(options.path.c_str());
    return Status::IoError(fmt::format("--local-socket {}: {}", options.path, ErrnoText(err)));
  }
  impl->socket_inode = st.st_ino;
  impl->socket_device = st.st_dev;
  impl->listener->assign(fd.release());
  impl->Accept();
  impl->threads.emplace_back([raw = impl.get()] {
    for (;;) {
      try {
        raw->io->run();
        return;
      } catch (const std::exception& e) {
        // A connection is dropped with its handler; the server goes on.
        spdlog::error("local read socket: {}", e.what());
      }
    }
  });
  spdlog::info("local reads on {}", options.path);
  return std::unique_ptr<LocalServer>(new LocalServer(std::move(impl)));
}

LocalServer::LocalServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LocalServer::~LocalServer() { Stop(); }
const std::string& LocalServer::path() const { return impl_->options.path; }
void LocalServer::Stop() {
  if (impl_ != nullptr) impl_->Stop();
}

}  // namespace epochcache::worker
