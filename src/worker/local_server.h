// Local reads (docs/api.md, "Local reads"): a Unix domain socket on which a client on the
// worker's own host asks for cached bytes and is handed the open, verified page files holding
// them (SCM_RIGHTS), to pread(2) them itself. A warm read then costs no TCP round trip and no
// copy through the worker: the bytes go from the page cache straight into the caller's buffer.
//
// Only hits are answered: a read whose status and pages are all cached (the same test as the
// HTTP hit path, and the same metadata TTL). Anything else (a miss, a path the worker refuses,
// another version than asked for, a read longer than max_read_bytes) is declined, and the
// client asks over HTTP, which gives the real answer. So this socket never calls the under
// store, never waits on a fetch, and never answers differently from HTTP.
//
// Who may call (docs/security.md): the socket file is created mode 0600, so only the worker's
// own user (and root) can connect, and the peer's credentials (SO_PEERCRED) are checked again
// on accept; that user could read the page files directly anyway. When the worker requires a
// bearer token, the first message must carry it. What a call can cost: connections are capped
// (past max_connections one gets a refusal and is closed), a connection must say hello within
// hello_timeout and is closed when idle for idle_timeout, a message is at most
// protocol::kMaxLocalMessage bytes, a request sent before the previous answer was read (or an
// answer that cannot be sent at once) closes the connection, so no client can queue answers
// and their descriptors, and descriptors a client attaches to its messages are discarded. The
// socket's directory must not be writable by other users (unless sticky).
//
// One thread serves every connection: an answer is a metadata lookup, a page lookup and one
// sendmsg (microseconds), and one thread means a connection's handlers never run at once.
//
// Thread-safety: Start/Stop from one thread; the server runs on its own thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "epochcache/status.h"
#include "worker/read_service.h"

namespace epochcache::worker {

struct LocalServerOptions {
  // The socket's path (at most 107 bytes). A socket file already there is replaced, unless a
  // worker still answers on it; any other file there is an error.
  std::string path;
  // The worker's advertised "host:port", which the hello answer names so that a client can tell
  // which worker it reached.
  std::string advertised_address;
  // When not empty, a connection's first message must carry it.
  std::string auth_token;
  unsigned max_connections = 256;
  // A connection with no request for this long is closed; a new one must say hello within
  // hello_timeout.
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds hello_timeout{1000};
  // Longer reads are declined (they go over HTTP, in windows).
  std::uint64_t max_read_bytes = std::uint64_t{64} << 20;
  // How long a client may keep the page files it is handed to serve later reads of the same
  // bytes itself (told in the hello answer). Bytes read that way are not verified again, so
  // this must not exceed the page store's verification interval; 0 turns keeping off.
  std::chrono::milliseconds keep{10000};
};

class LocalServer {
 public:
  // Binds, listens and starts serving. `service` must outlive the server.
  static Result<std::unique_ptr<LocalServer>> Start(ReadService& service,
                                                    const LocalServerOptions& options);
  ~LocalServer();  // Stop()s
  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;

  [[nodiscard]] const std::string& path() const;

  // Stops accepting, closes every connection, joins the threads and removes the socket file.
  // Idempotent.
  void Stop();

  struct Impl;

 private:
  explicit LocalServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace epochcache::worker
