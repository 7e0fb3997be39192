#include "worker/local_server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
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
// A read is answered with the whole pages around it when they are all cached and total at
// most this: the client keeps their descriptors for reads nearby (client/local_reads.h).
constexpr std::uint64_t kMaxWholePageBytes = std::uint64_t{16} << 20;

std::string ErrnoText(int err) { return std::strerror(err); }  // NOLINT(concurrency-mt-unsafe)

Result<sockaddr_un> SocketAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return Status::InvalidArgument(
        fmt::format("--local-socket '{}': a Unix socket path must be 1 to {} bytes long", path,
                    sizeof(addr.sun_path) - 1));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

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
  UniqueFd probe(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
  if (probe.valid() &&
      ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) {
    return Status::InvalidArgument(
        fmt::format("--local-socket {}: another process is serving on it (another worker?)", path));
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::IoError(
        fmt::format("--local-socket {}: cannot remove the old socket: {}", path, ErrnoText(errno)));
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
  }

  class Connection;

  void Accept();
  void OnAcceptable();
  // Answers a refused connection and closes it (see Connection).
  void Refuse(UniqueFd fd, std::string_view why);

  void Stop() {
    if (stopped.exchange(true)) return;
    io->stop();
    for (auto& t : threads) t.join();
    threads.clear();
    listener.reset();  // before the io_context it belongs to
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
  Connection(Impl& server, UniqueFd fd, std::string refusal = {})
      : server_(server),
        socket_(*server.io, fd.release()),
        refusal_(std::move(refusal)),
        linger_(*server.io) {
    (refusal_.empty() ? server_.connections : server_.lingering).fetch_add(1);
  }
  ~Connection() { (refusal_.empty() ? server_.connections : server_.lingering).fetch_sub(1); }

  // Starts the clock of a refused connection.
  void Linger() {
    linger_.expires_after(kRefusalLinger);
    linger_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->Close("a refused connection sent nothing");
    });
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void Serve() {
    // A handful of messages per turn, so one busy client cannot hold the thread.
    for (int turn = 0; turn < 16; ++turn) {
      auto message =
          ReceiveWithFds(socket_.native_handle(), protocol::kMaxLocalMessage, 0, MSG_DONTWAIT);
      if (!message.ok()) {
        if (message.status().code() == StatusCode::kUnavailable) break;  // nothing yet
        return Close(message.status().message());
      }
      if (message->bytes.empty()) return;  // the client hung up
      if (auto why = Answer(message->bytes)) return Close(*why);
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
      linger_.cancel();
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
    if (auto why = Plan(read, &plan)) {
      answer.reason = std::move(*why);
      Bump(counters.local_declines);
      if (!Send(protocol::EncodeLocalReadAnswer(answer), {})) return "an answer was not taken";
      return std::nullopt;
    }
    answer.hit = true;
    answer.size = plan.status.size;
    answer.version = plan.status.version;
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

  // The plan of a read wholly served by cached pages, or why not.
  std::optional<std::string> Plan(const protocol::LocalRead& read, ReadPlan* plan) {
    ReadService& service = server_.service;
    if (read.length > server_.options.max_read_bytes) {
      return fmt::format("longer than {} bytes", server_.options.max_read_bytes);
    }
    auto status = service.CachedStatus(read.path);
    if (!status) return std::string("the status is not cached");
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
  }

  Impl& server_;
  asio::posix::stream_descriptor socket_;
  const std::string refusal_;
  asio::steady_timer linger_;
  bool greeted_ = false;
};

void LocalServer::Impl::Accept() {
  listener->async_wait(asio::posix::stream_descriptor::wait_read,
                       [this](const boost::system::error_code& ec) {
                         if (ec) return;
                         OnAcceptable();
                         Accept();
                       });
}

void LocalServer::Impl::OnAcceptable() {
  // Bounded, so that a flood of connections cannot hold this thread.
  for (int i = 0; i < 64; ++i) {
    UniqueFd fd(
        ::accept4(listener->native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!fd.valid()) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
        spdlog::warn("local read socket: accept failed: {}", ErrnoText(errno));
      }
      return;
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
    std::make_shared<Connection>(*this, std::move(fd))->Serve();
  }
}

void LocalServer::Impl::Refuse(UniqueFd fd, std::string_view why) {
  Bump(service.counters().local_refusals);
  // Past kMaxLingering refusals in wait, closed without a word: a flood of connections cannot
  // hold descriptors through the refusals themselves.
  if (lingering.load() >= kMaxLingering) return;
  auto connection = std::make_shared<Connection>(*this, std::move(fd), std::string(why));
  connection->Linger();
  connection->Serve();
}

Result<std::unique_ptr<LocalServer>> LocalServer::Start(ReadService& service,
                                                        const LocalServerOptions& options) {
  EC_ASSIGN_OR_RETURN(const sockaddr_un addr, SocketAddress(options.path));
  EC_RETURN_IF_ERROR(ClearStaleSocket(options.path, addr));
  auto impl = std::make_unique<Impl>(service, options);
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
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
