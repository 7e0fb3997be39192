#include "client/inline_http.h"

#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/read.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>

#include "protocol/wire.h"

namespace epochcache::client {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kHeaderBufferLimit = std::size_t{16} * 1024;
constexpr std::size_t kMaxIdlePerHost = 64;
constexpr std::size_t kInitialChunkedBody = 4096;
constexpr std::size_t kMaxIovecs = 16;

std::int64_t Millis(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

beast::error_code LastError() { return {errno, beast::system_category()}; }

}  // namespace

// A connected non-blocking socket as a Beast SyncReadStream and SyncWriteStream whose every
// wait ends at the deadline (with beast::error::timeout): the blocking calls of the exchange
// honour the request deadline without a timer thread.
class DeadlineSocket {
 public:
  explicit DeadlineSocket(int fd) : fd_(fd) {}
  ~DeadlineSocket() { ::close(fd_); }
  DeadlineSocket(const DeadlineSocket&) = delete;
  DeadlineSocket& operator=(const DeadlineSocket&) = delete;

  [[nodiscard]] int fd() const { return fd_; }
  void set_deadline(Clock::time_point deadline) { deadline_ = deadline; }

  template <typename MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, beast::error_code& ec) {
    ec = {};
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers);
         ++it) {
      const asio::mutable_buffer b = *it;
      if (b.size() != 0) return Recv(b.data(), b.size(), ec);
    }
    return 0;
  }

  template <typename MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    beast::error_code ec;
    const std::size_t n = read_some(buffers, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }

  template <typename ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, beast::error_code& ec) {
    ec = {};
    std::array<iovec, kMaxIovecs> iov{};
    std::size_t n = 0;
    for (auto it = asio::buffer_sequence_begin(buffers);
         it != asio::buffer_sequence_end(buffers) && n < iov.size(); ++it) {
      const asio::const_buffer b = *it;
      if (b.size() == 0) continue;
      iov[n++] = iovec{const_cast<void*>(b.data()), b.size()};  // NOLINT: sendmsg does not write
    }
    if (n == 0) return 0;
    return Send(iov.data(), n, ec);
  }

  template <typename ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers) {
    beast::error_code ec;
    const std::size_t n = write_some(buffers, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }

  // Waits until the socket is ready for `events` or the deadline passes.
  bool Wait(std::int16_t events, beast::error_code& ec) {
    for (;;) {
      const auto left = deadline_ - Clock::now();
      if (left <= Clock::duration::zero()) {
        ec = beast::error::timeout;
        return false;
      }
      // Rounded up, so that a wait does not end a little before the deadline and spin.
      const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
      pollfd pfd{fd_, events, 0};
      const int r = ::poll(&pfd, 1, static_cast<int>(std::min<std::int64_t>(ms, INT_MAX)));
      // Ready, or an error or hang-up that the next call on the socket reports.
      if (r > 0) return true;
      if (r < 0 && errno != EINTR) {
        ec = LastError();
        return false;
      }
    }
  }

 private:
  std::size_t Recv(void* data, std::size_t size, beast::error_code& ec) {
    // Right after a request the answer cannot be there yet: wait first rather than pay for a
    // receive that would only say so.
    if (answer_pending_) {
      answer_pending_ = false;
      if (!Wait(POLLIN, ec)) return 0;
    }
    for (;;) {
      const ssize_t got = ::recv(fd_, data, size, 0);
      if (got > 0) return static_cast<std::size_t>(got);
      if (got == 0) {
        ec = asio::error::eof;
        return 0;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        ec = LastError();
        return 0;
      }
      if (!Wait(POLLIN, ec)) return 0;
    }
  }

  std::size_t Send(iovec* iov, std::size_t n, beast::error_code& ec) {
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = n;
    for (;;) {
      const ssize_t sent = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
      if (sent >= 0) {
        answer_pending_ = true;
        return static_cast<std::size_t>(sent);
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        ec = LastError();
        return 0;
      }
      if (!Wait(POLLOUT, ec)) return 0;
    }
  }

  const int fd_;
  Clock::time_point deadline_;
  bool answer_pending_ = false;
};

class InlineConnection {
 public:
  explicit InlineConnection(int fd) : socket(fd) {}
  DeadlineSocket socket;
  // Response headers; the body goes straight to its destination.
  beast::flat_buffer buffer{kHeaderBufferLimit};
};

InlineConnections::InlineConnections() = default;

InlineConnections::~InlineConnections() = default;

std::unique_ptr<InlineConnection> InlineConnections::Take(const std::string& host) {
  if (forks_.Forked()) return nullptr;
  std::lock_guard lock(mu_);
  auto it = idle_.find(host);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  auto conn = std::move(it->second.back());
  it->second.pop_back();
  return conn;
}

void InlineConnections::Put(const std::string& host, std::unique_ptr<InlineConnection> conn) {
  if (forks_.Forked()) return;
  std::lock_guard lock(mu_);
  auto& list = idle_[host];
  if (list.size() < kMaxIdlePerHost) list.push_back(std::move(conn));
}

namespace {

// Connects to `hp` (each resolved address in turn) within `timeout`.
Result<std::unique_ptr<InlineConnection>> Connect(const std::string& host, const HostPort& hp,
                                                  Clock::duration timeout) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(hp.host.c_str(), hp.port.c_str(), &hints, &found); rc != 0) {
    return Status::Unavailable(
        fmt::format("worker {} unreachable: cannot resolve host: {}", host, ::gai_strerror(rc)));
  }
  const std::unique_ptr<addrinfo, void (*)(addrinfo*)> addresses(found, ::freeaddrinfo);
  const auto deadline = Clock::now() + timeout;
  std::string why = "no address";
  for (const addrinfo* ai = addresses.get(); ai != nullptr; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      why = LastError().message();
      continue;
    }
    auto conn = std::make_unique<InlineConnection>(fd);
    conn->socket.set_deadline(deadline);
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        why = LastError().message();
        continue;
      }
      beast::error_code ec;
      if (!conn->socket.Wait(POLLOUT, ec)) {
        if (ec == beast::error::timeout) {
          return Status::Timeout(fmt::format("worker {} unreachable: connect timed out after {} ms",
                                             host, Millis(timeout)));
        }
        why = ec.message();
        continue;
      }
      int err = 0;
      socklen_t len = sizeof err;
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err != 0) {
        why = beast::error_code(err, beast::system_category()).message();
        continue;
      }
    }
    // Requests are small writes each waiting for an answer: Nagle would hold them back.
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return conn;
  }
  return Status::Unavailable(fmt::format("worker {} unreachable: {}", host, why));
}

// One request on one connection.
class Exchange {
 public:
  Exchange(const HttpPoolOptions& options, const std::string& host, const HttpRequest& request,
           std::span<std::byte> sink)
      : options_(options), host_(host), request_(request), sink_(sink) {}

  // The outcome; `before_response` tells a failure before any answer (a stale keep-alive
  // connection, worth one fresh try) from one after it.
  Result<HttpResponse> Run(InlineConnection& conn, bool& before_response) {
    before_response = true;
    beast::error_code ec;
    conn.buffer.clear();
    http::write(conn.socket, Request(), ec);
    if (ec) return TransportError(ec, "before answering");
    parser_.emplace();
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    http::read_header(conn.socket, conn.buffer, *parser_, ec);
    if (ec) return TransportError(ec, "before answering");
    before_response = false;
    EC_RETURN_IF_ERROR(OnHeader());
    if (!parser_->is_done()) {
      const auto length = parser_->content_length();
      EC_RETURN_IF_ERROR(length && !parser_->chunked() ? ReadRawBody(conn) : ReadBody(conn));
    }
    if (dst_ == body_.data()) {
      body_.resize(filled_);
      response_.body = std::move(body_);
    } else {
      response_.sink_bytes = filled_;
    }
    return std::move(response_);
  }

  // Whether the connection can carry the next request.
  [[nodiscard]] bool Reusable(const InlineConnection& conn) const {
    // Bytes beyond the message mean the connection is out of step.
    return parser_ && parser_->keep_alive() && conn.buffer.size() == 0;
  }

  Status TransportError(beast::error_code ec, std::string_view when) const {
    if (ec == beast::error::timeout) {
      return Status::Timeout(fmt::format("worker {} did not answer within {} ms", host_,
                                         options_.request_timeout.count()));
    }
    return Status::Unavailable(fmt::format("worker {} failed {}: {}", host_, when, ec.message()));
  }

 private:
  http::request<http::empty_body> Request() const {
    http::request<http::empty_body> req;
    req.method(request_.post ? http::verb::post : http::verb::get);
    req.target(request_.target);
    req.version(11);
    req.set(http::field::host, host_);
    req.set(http::field::user_agent, "epochcache-client");
    req.keep_alive(true);
    if (!options_.auth_token.empty()) {
      req.set(http::field::authorization,
              std::string(protocol::kBearerPrefix) + options_.auth_token);
    }
    if (request_.range) {
      // Formatted on the stack: this runs once per request, and Beast copies the value anyway.
      std::array<char, 64> range{};
      const auto end = fmt::format_to_n(range.data(), range.size(), "bytes={}-{}",
                                        request_.range->first, request_.range->second);
      req.set(http::field::range, beast::string_view(range.data(), end.size));
    }
    return req;
  }

  Status OnHeader() {
    const auto& msg = parser_->get();
    response_.status = msg.result_int();
    response_.content_range = std::string(msg[http::field::content_range]);
    response_.version = std::string(
        msg[beast::string_view(protocol::kVersionHeader.data(), protocol::kVersionHeader.size())]);
    const auto length = parser_->content_length();
    if (response_.status / 100 == 2 && sink_.data() != nullptr) {
      if (length && *length != sink_.size()) {
        return Status::IoError(fmt::format("worker {} sent a body of {} bytes for {}, expected {}",
                                           host_, *length, request_.target, sink_.size()));
      }
      dst_ = reinterpret_cast<char*>(sink_.data());
      cap_ = sink_.size();
    } else {
      if (length && *length > options_.max_body) {
        return Status::IoError(fmt::format("worker {} sent a body of {} bytes for {}", host_,
                                           *length, request_.target));
      }
      growable_ = !length.has_value();
      body_.resize(length ? static_cast<std::size_t>(*length) : kInitialChunkedBody);
      dst_ = body_.data();
      cap_ = body_.size();
    }
    return Status::Ok();
  }

  // A body of known length is received straight into its destination, bypassing the parser;
  // only the bytes that arrived together with the headers are copied.
  Status ReadRawBody(InlineConnection& conn) {
    const std::size_t early = std::min(conn.buffer.size(), cap_);
    asio::buffer_copy(asio::buffer(dst_, early), conn.buffer.data());
    conn.buffer.consume(early);
    filled_ = early;
    if (filled_ == cap_) return Status::Ok();
    beast::error_code ec;
    filled_ += asio::read(conn.socket, asio::buffer(dst_ + filled_, cap_ - filled_), ec);
    if (ec) return TransportError(ec, "in the middle of a response body");
    return Status::Ok();
  }

  Status ReadBody(InlineConnection& conn) {
    for (;;) {
      auto& body = parser_->get().body();
      body.data = dst_ + filled_;
      body.size = cap_ - filled_;
      beast::error_code ec;
      http::read(conn.socket, conn.buffer, *parser_, ec);
      filled_ = cap_ - parser_->get().body().size;
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return TransportError(ec, "in the middle of a response body");
      if (parser_->is_done()) return Status::Ok();
      if (filled_ == cap_) {
        if (!growable_ || cap_ >= options_.max_body) {
          return Status::IoError(fmt::format("worker {} sent more body bytes than expected for {}",
                                             host_, request_.target));
        }
        body_.resize(std::min(cap_ * 2, options_.max_body));
        dst_ = body_.data();
        cap_ = body_.size();
      }
    }
  }

  const HttpPoolOptions& options_;
  const std::string& host_;
  const HttpRequest& request_;
  const std::span<std::byte> sink_;
  std::optional<http::response_parser<http::buffer_body>> parser_;
  HttpResponse response_;
  std::string body_;
  char* dst_ = nullptr;
  std::size_t cap_ = 0;
  std::size_t filled_ = 0;
  bool growable_ = false;
};

}  // namespace

Result<HttpResponse> InlineExchange(InlineConnections& idle, const HttpPoolOptions& options,
                                    const std::string& host, const HttpRequest& request,
                                    std::span<std::byte> sink) {
  if (request.cancelled && request.cancelled->load()) {
    return Status::Rejected("request cancelled");
  }
  std::optional<Clock::time_point> deadline;
  std::unique_ptr<InlineConnection> conn = idle.Take(host);
  for (bool retried = false;; retried = true) {
    if (!conn) {
      EC_ASSIGN_OR_RETURN(const HostPort hp, SplitHostPort(host));
      auto timeout = std::chrono::duration_cast<Clock::duration>(options.connect_timeout);
      if (deadline) timeout = std::min(timeout, *deadline - Clock::now());
      timeout = std::max<Clock::duration>(timeout, std::chrono::milliseconds(1));
      EC_ASSIGN_OR_RETURN(conn, Connect(host, hp, timeout));
    }
    if (!deadline) deadline = Clock::now() + options.request_timeout;
    conn->socket.set_deadline(*deadline);
    Exchange exchange(options, host, request, sink);
    bool before_response = false;
    auto r = exchange.Run(*conn, before_response);
    if (r.ok()) {
      if (exchange.Reusable(*conn)) idle.Put(host, std::move(conn));
      return r;
    }
    // Nothing of the response arrived: the connection was stale or broke. One fresh try.
    if (!before_response || retried || r.status().code() == StatusCode::kTimeout) return r;
    conn.reset();
  }
}

}  // namespace epochcache::client
