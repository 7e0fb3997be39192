// Messages with open file descriptors attached (SCM_RIGHTS) over a Unix domain socket: how the
// worker hands a client on its host the page files of a local read (protocol/local_wire.h).
//
// Received descriptors are always close-on-exec and owned by the caller; a message that
// carried more descriptors than the caller allowed has them all closed and is an error, so a
// peer can never leave descriptors in this process that nobody owns.
#pragma once

#include <sys/un.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/env.h"
#include "epochcache/status.h"

namespace epochcache {

// The address of the Unix socket at `path`; InvalidArgument when the path is empty or longer
// than a sockaddr_un holds (107 bytes).
Result<sockaddr_un> UnixSocketAddress(std::string_view path);

// Sends `bytes` as one message on `socket` with `fds` attached (none: a plain message).
// `flags` are sendmsg(2)'s (MSG_DONTWAIT, ...); MSG_NOSIGNAL is always added. Unavailable
// (EAGAIN) when a non-blocking socket is full; IoError otherwise.
Status SendWithFds(int socket, std::string_view bytes, std::span<const int> fds, int flags = 0);

struct ReceivedMessage {
  std::string bytes;  // empty with no fds: the peer closed the connection
  std::vector<ScopedFd> fds;
};

// Receives one message of at most `max_bytes` (a longer one is InvalidArgument: it was cut)
// and at most `max_fds` descriptors. Unavailable (EAGAIN) when a non-blocking socket has none.
Result<ReceivedMessage> ReceiveWithFds(int socket, std::size_t max_bytes, std::size_t max_fds,
                                       int flags = 0);

}  // namespace epochcache
