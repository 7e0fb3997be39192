// Messages with open file descriptors attached (SCM_RIGHTS) over a Unix domain socket: how the
// worker hands a client on its host the page files of a local read (protocol/local_wire.h).
//
// Received descriptors are always close-on-exec and owned by the caller; a message that
// carried more descriptors than the caller allowed has them all closed and is an error, so a
// peer can never leave descriptors in this process that nobody owns.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "epochcache/status.h"

namespace epochcache {

// An open descriptor, closed when this goes out of scope.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  [[nodiscard]] int get() const { return fd_; }
  [[nodiscard]] bool valid() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Sends `bytes` as one message on `socket` with `fds` attached (none: a plain message).
// `flags` are sendmsg(2)'s (MSG_DONTWAIT, ...); MSG_NOSIGNAL is always added. Unavailable
// (EAGAIN) when a non-blocking socket is full; IoError otherwise.
Status SendWithFds(int socket, std::string_view bytes, std::span<const int> fds, int flags = 0);

struct ReceivedMessage {
  std::string bytes;  // empty with no fds: the peer closed the connection
  std::vector<UniqueFd> fds;
};

// Receives one message of at most `max_bytes` (a longer one is InvalidArgument: it was cut)
// and at most `max_fds` descriptors. Unavailable (EAGAIN) when a non-blocking socket has none.
Result<ReceivedMessage> ReceiveWithFds(int socket, std::size_t max_bytes, std::size_t max_fds,
                                       int flags = 0);

}  // namespace epochcache
