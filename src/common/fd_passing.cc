#include "common/fd_passing.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace epochcache {
namespace {

Status SocketError(std::string_view call, int err) {
  if (err == EAGAIN || err == EWOULDBLOCK) {
    return Status::Unavailable(fmt::format("{}: the socket would block", call));
  }
  return Status::IoError(
      fmt::format("{}: {}", call, std::strerror(err)));  // NOLINT(concurrency-mt-unsafe)
}

}  // namespace

Result<sockaddr_un> UnixSocketAddress(std::string_view path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return Status::InvalidArgument(fmt::format(
        "'{}': a Unix socket path must be 1 to {} bytes long", path, sizeof(addr.sun_path) - 1));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

Status SendWithFds(int socket, std::string_view bytes, std::span<const int> fds, int flags) {
  iovec iov{const_cast<char*>(bytes.data()),
            bytes.size()};  // NOLINT(cppcoreguidelines-pro-type-const-cast): sendmsg does not write
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control;
  if (!fds.empty()) {
    control.resize(CMSG_SPACE(fds.size_bytes()));
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* header = CMSG_FIRSTHDR(&msg);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(fds.size_bytes());
    std::memcpy(CMSG_DATA(header), fds.data(), fds.size_bytes());
  }
  for (;;) {
    const ssize_t sent = ::sendmsg(socket, &msg, flags | MSG_NOSIGNAL);
    if (sent >= 0) {
      if (static_cast<std::size_t>(sent) != bytes.size()) {
        return Status::IoError(fmt::format("sendmsg: {} of {} bytes sent", sent, bytes.size()));
      }
      return Status::Ok();
    }
    if (errno != EINTR) return SocketError("sendmsg", errno);
  }
}

Result<ReceivedMessage> ReceiveWithFds(int socket, std::size_t max_bytes, std::size_t max_fds,
                                       int flags) {
  ReceivedMessage out;
  // One byte more than allowed, so that a longer message shows as MSG_TRUNC.
  out.bytes.resize(max_bytes + 1);
  iovec iov{out.bytes.data(), out.bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control(max_fds == 0 ? 0 : CMSG_SPACE(max_fds * sizeof(int)));
  msg.msg_control = control.empty() ? nullptr : control.data();
  msg.msg_controllen = control.size();
  ssize_t got = 0;
  for (;;) {
    got = ::recvmsg(socket, &msg, flags | MSG_CMSG_CLOEXEC);
    if (got >= 0) break;
    if (errno != EINTR) return SocketError("recvmsg", errno);
  }
  // Take ownership of whatever arrived before deciding anything, so an error closes them.
  for (cmsghdr* h = CMSG_FIRSTHDR(&msg); h != nullptr; h = CMSG_NXTHDR(&msg, h)) {
    if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t n = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < n; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
      out.fds.emplace_back(fd);
    }
  }
  if ((msg.msg_flags & MSG_CTRUNC) != 0) {
    return Status::InvalidArgument(
        fmt::format("a message with more than {} descriptors attached", max_fds));
  }
  if ((msg.msg_flags & MSG_TRUNC) != 0 || static_cast<std::size_t>(got) > max_bytes) {
    return Status::InvalidArgument(fmt::format("a message of more than {} bytes", max_bytes));
  }
  out.bytes.resize(static_cast<std::size_t>(got));
  return out;
}

}  // namespace epochcache
