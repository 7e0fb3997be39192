#include "worker/http_server.h"

#include <spdlog/spdlog.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>
#include <sstream>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "protocol/status_http.h"
#include "protocol/wire.h"
#include "worker/bearer_token.h"
#include "worker/request_router.h"

namespace epochcache::worker {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
namespace ssl = asio::ssl;

namespace {

constexpr std::uint32_t kHeaderLimit = 8 * 1024;
// The read buffer holds one request head (plus whatever a pipelining client sent after it).
constexpr std::size_t kReadBufferLimit = std::size_t{64} * 1024;
// A hit whose first window is at most this long is answered on the I/O thread that read it
// (see Session::Dispatch); a longer one is planned on the hit pool, so that opening and
// verifying many pages never holds up the other connections of an I/O thread for long.
constexpr std::uint64_t kInlineHitBytes = std::uint64_t{1} << 20;
// sendfile(2) moves at most this much per call; the loop continues until the slice is sent.
constexpr std::size_t kSendfileChunk = 1 << 30;
// accept(2) out of descriptors: retry after this, doubling up to the maximum.
constexpr std::chrono::milliseconds kAcceptBackoffMin{10};
constexpr std::chrono::milliseconds kAcceptBackoffMax{1000};
// At most one log line per this interval for a repeating accept failure.
constexpr std::chrono::seconds kAcceptLogInterval{10};
// Over TLS a page cannot go out by sendfile(2) (the kernel would send it unencrypted): it is
// read into a buffer of this size at a time and written through the TLS stream.
constexpr std::size_t kTlsPageChunk = std::size_t{256} * 1024;
// A page reply's header is held (MSG_MORE) to leave with its body when the body is at most
// this long (see Session::SendHeaderNow).
constexpr std::uint64_t kCoalesceHeaderBelow = std::uint64_t{16} * 1024;
// A connection refused past --max-connections is given this long to take its 503.
constexpr std::chrono::milliseconds kRejectLinger{1000};
// Refused connections lingering at once; past it they are closed without a word, so that a
// flood of connections cannot hold descriptors through the refusals themselves.
constexpr unsigned kMaxLingering = 64;

HttpReply ErrorReply(unsigned status, const Status& error) {
  HttpReply reply;
  reply.status = status;
  reply.body = ErrorJson(error);
  return reply;
}

HttpReply BusyReply(const std::string& why) {
  HttpReply reply = ErrorReply(503, protocol::WorkerBusy(why));
  reply.headers.emplace_back(protocol::kRetryAfterHeader, protocol::kRetryAfterSeconds);
  return reply;
}

struct ServerContext {
  ServerContext(RequestRouter& r, asio::thread_pool& h, asio::thread_pool& m,
                const HttpServerOptions& o)
      : router(r), hits(h), misses(m), options(o), token(o.auth_token) {}

  // Posts a new request's miss work unless every miss thread is busy and max_queued_requests
  // more already wait.
  template <typename F>
  bool TryPostMiss(F&& work) {
    const unsigned limit = options.handler_threads + options.max_queued_requests;
    if (outstanding_misses.fetch_add(1) >= limit) {
      outstanding_misses.fetch_sub(1);
      return false;
    }
    asio::post(misses, [this, work = std::forward<F>(work)]() mutable {
      work();
      outstanding_misses.fetch_sub(1);
    });
    return true;
  }

  RequestRouter& router;
  asio::thread_pool& hits;
  asio::thread_pool& misses;
  const HttpServerOptions& options;
  const BearerToken token;
  std::atomic<unsigned> connections{0};         // live sessions
  std::atomic<unsigned> lingering{0};           // refused connections still being answered
  std::atomic<unsigned> outstanding_misses{0};  // new requests on the miss pool
};

// True for errors that just mean the peer went away or was too slow: closed without a word.
bool IsDisconnect(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == beast::error::timeout ||
         ec == asio::error::operation_aborted || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == http::error::partial_message || ec == ssl::error::stream_truncated;
}

bool Authorized(const ServerContext& ctx, const http::request_header<>& head) {
  auto it = head.find(http::field::authorization);
  if (it == head.end()) return false;
  const std::string_view value = it->value();
  constexpr std::string_view kScheme = protocol::kBearerPrefix;
  if (value.size() <= kScheme.size() || !beast::iequals(value.substr(0, kScheme.size()), kScheme)) {
    return false;
  }
  return ctx.token.Matches(value.substr(kScheme.size()));
}

HttpReply UnauthorizedReply(bool presented) {
  // The message never echoes what was presented.
  HttpReply reply = ErrorReply(
      401, Status::Unauthenticated(presented ? "the bearer token is not valid"
                                             : "this worker requires 'Authorization: Bearer "
                                               "<token>' (the worker's --auth-token-file)"));
  reply.headers.emplace_back(protocol::kWwwAuthenticateHeader, protocol::kWwwAuthenticateValue);
  return reply;
}

// Answers a connection past --max-connections with a canned 503, then reads and discards what
// the client sends for a moment before closing, so that the client reads the 503 instead of a
// reset.
class Rejection : public std::enable_shared_from_this<Rejection> {
 public:
  Rejection(tcp::socket&& socket, ServerContext& ctx, const std::string& response)
      : socket_(std::move(socket)), ctx_(ctx), response_(response), timer_(socket_.get_executor()) {
    ctx_.lingering.fetch_add(1);
  }
  ~Rejection() { ctx_.lingering.fetch_sub(1); }
  Rejection(const Rejection&) = delete;
  Rejection& operator=(const Rejection&) = delete;

  void Start() {
    asio::async_write(socket_, asio::buffer(response_),
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return self->Close();
                        self->socket_.shutdown(tcp::socket::shutdown_send, ec);
                        self->timer_.expires_after(kRejectLinger);
                        self->timer_.async_wait([self](beast::error_code wait_ec) {
                          if (!wait_ec) self->Close();
                        });
                        self->Drain();
                      });
  }

 private:
  void Drain() {
    socket_.async_read_some(asio::buffer(sink_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) return self->Close();
                              self->Drain();
                            });
  }

  void Close() {
    beast::error_code ec;
    timer_.cancel();
    socket_.close(ec);
  }

  tcp::socket socket_;
  ServerContext& ctx_;
  const std::string& response_;
  asio::steady_timer timer_;
  std::array<char, 4096> sink_{};
};

// One client connection: reads a request, answers it, repeats while keep-alive holds.
// `Stream` is beast::tcp_stream (plain HTTP) or a TLS stream over one.
// Every member is touched only on the connection's I/O thread (its io_context), except `closed_`.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
  enum class Phase : std::uint8_t { kWaitingForRequest, kResponding };

 public:
  // The caller has counted this session in ctx.connections; the destructor uncounts it.
  template <class... StreamArgs>
  explicit Session(ServerContext& ctx, StreamArgs&&... stream_args)
      : stream_(std::forward<StreamArgs>(stream_args)...),
        ctx_(ctx),
        deadline_(stream_.get_executor()) {}
  ~Session() { ctx_.connections.fetch_sub(1); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls) {
        self->Handshake();
      } else {
        self->ReadRequest();
      }
    });
  }

 private:
  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }
  tcp::socket& Socket() { return Tcp().socket(); }

  void Handshake() {
    if constexpr (kTls) {
      SetDue(Phase::kWaitingForRequest, ctx_.options.idle_timeout);
      io_pending_ = true;
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                self->io_pending_ = false;
                                // A client that cannot or will not speak TLS: nothing to say.
                                if (ec) return self->Close();
                                self->ReadRequest();
                              });
    }
  }

  void ReadRequest() {
    if (closed_) return;
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(0);  // requests have no body
    SetDue(Phase::kWaitingForRequest, ctx_.options.idle_timeout);
    io_pending_ = true;
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                       self->io_pending_ = false;
                       self->OnRead(ec);
                     });
  }

  void OnRead(beast::error_code ec) {
    request_start_ = std::chrono::steady_clock::now();
    if (ec) {
      if (IsDisconnect(ec)) return Close();
      // A request we cannot parse: say so (best effort) and hang up, since the stream's
      // framing can no longer be trusted.
      const bool too_large = ec == http::error::header_limit || ec == http::error::buffer_overflow;
      HttpReply reply =
          ErrorReply(too_large ? 431 : 400,
                     Status::InvalidArgument(std::string(too_large ? "request header too large: "
                                                                   : "malformed request: ") +
                                             ec.message()));
      Bump(ctx_.router.service().counters().errors);
      keep_alive_ = false;
      StartDeadline();
      return WriteReply(std::move(reply));
    }
    StartDeadline();
    const auto& head = parser_->get();
    HttpRequest request;
    request.method = std::string(head.method_string());
    request.target = std::string(head.target());
    if (auto it = head.find(http::field::range); it != head.end()) {
      request.range = std::string(it->value());
    }
    keep_alive_ = head.keep_alive();
    const std::string_view target = request.target;
    const std::string_view path = target.substr(0, target.find('?'));
    request_endpoint_ = std::string(path);
    request_method_ = request.method;
    const bool health = path == protocol::kHealthPath && head.method() == http::verb::get;
    // Before routing, so that nothing about the files or the worker is revealed to a caller
    // without the token; /v1/health stays open for load balancers and probes.
    if (ctx_.token.required() && !health && !Authorized(ctx_, head)) {
      Bump(ctx_.router.service().counters().errors);
      return WriteReply(UnauthorizedReply(head.find(http::field::authorization) != head.end()));
    }
    // Health, stats and metrics never touch the under store: answer them here, so that they
    // stay prompt while every pool thread waits on a slow remote read.
    if (path == protocol::kHealthPath || path == protocol::kStatsPath ||
        path == protocol::kMetricsPath) {
      return WriteReply(SafeHandle(request));
    }
    Dispatch(std::move(request));
  }

  // A hit whose first window is small is answered right here, on the I/O thread; a larger
  // hit goes to the hit pool, anything that needs the under store to the miss pool.
  //
  // Why a hit may run on an I/O thread: it takes the metadata cache's and the page store's
  // locks (held for a map lookup, never across I/O or a fetch: see ReadService::TryReadCached
  // and PageStoreImpl::Get) and opens, reads and checksums the local page files of at most
  // kInlineHitBytes. That is local-disk work of the kind the I/O thread already does when it
  // sendfile(2)s the same pages, and it never waits on the under store or a concurrent fetch.
  // Handing every hit to a pool and back instead cost two thread wake-ups per request, which
  // was most of a small hit's time (docs/benchmarks.md, bench/http_peer.py).
  void Dispatch(HttpRequest request) {
    std::optional<HttpReply> hit;
    try {
      hit = ctx_.router.TryHandleWithoutUnderStore(request, kInlineHitBytes);
    } catch (const std::exception& e) {
      spdlog::warn("request {} failed on the hit path: {}", EndpointLabel(request_endpoint_),
                   e.what());
    }
    if (hit) return WriteReply(std::move(*hit));
    asio::post(
        ctx_.hits, [self = this->shared_from_this(), request = std::move(request)]() mutable {
          if (self->closed_) return;
          std::optional<HttpReply> hit;
          try {
            hit = self->ctx_.router.TryHandleWithoutUnderStore(request);
          } catch (const std::exception& e) {
            spdlog::warn("request {} failed on the hit path: {}", request.target, e.what());
          }
          if (hit) return self->Deliver(std::move(*hit));
          const bool queued = self->ctx_.TryPostMiss([self, request = std::move(request)] {
            if (self->closed_) return;
            self->Deliver(self->SafeHandle(request));
          });
          if (!queued) {
            Bump(self->ctx_.router.service().counters().errors);
            self->Deliver(BusyReply("too many queued requests (--max-queued-requests " +
                                    std::to_string(self->ctx_.options.max_queued_requests) + ")"));
          }
        });
  }

  void Deliver(HttpReply reply) {
    asio::post(stream_.get_executor(),
               [self = this->shared_from_this(), reply = std::move(reply)]() mutable {
                 self->WriteReply(std::move(reply));
               });
  }

  HttpReply SafeHandle(const HttpRequest& request) {
    try {
      return ctx_.router.Handle(request);
    } catch (const std::exception& e) {
      spdlog::warn("request {} failed: {}", request.target, e.what());
      return ErrorReply(500, Status::Internal(e.what()));
    }
  }

  // The total response deadline: set when a request has been read, cleared when its response
  // is complete; never pushed back by progress.
  void StartDeadline() { SetDue(Phase::kResponding, ctx_.options.response_timeout); }

  // Both timeouts share one timer that is not re-armed per request (arming and cancelling a
  // timer per request cost two timerfd updates and a cancelled handler each): a request only
  // records its deadline, and the timer, armed at most `min(idle, response timeout)` ahead,
  // re-arms itself for the recorded deadline when it fires early. Every deadline set is at
  // least that far ahead, so a pending timer never fires late.
  void SetDue(Phase phase, std::chrono::milliseconds timeout) {
    phase_ = phase;
    due_ = std::chrono::steady_clock::now() + timeout;
    if (!timer_pending_) ArmTimer();
  }

  void ArmTimer() {
    // At least a millisecond, so that a zero timeout cannot make the timer spin.
    const auto check = std::max(std::chrono::milliseconds(1),
                                std::min(ctx_.options.idle_timeout, ctx_.options.response_timeout));
    timer_pending_ = true;
    deadline_.expires_at(std::min(due_, std::chrono::steady_clock::now() + check));
    deadline_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec) return;  // cancelled by Close
      self->timer_pending_ = false;
      self->OnTimer();
    });
  }

  void OnTimer() {
    if (closed_) return;
    if (std::chrono::steady_clock::now() < due_) return ArmTimer();
    if (phase_ == Phase::kWaitingForRequest) {
      // Idle (or a request, or a TLS handshake, that never completed): close without a word.
      return Close();
    }
    spdlog::debug("response not complete within {} ms; closing the connection",
                  ctx_.options.response_timeout.count());
    // A reset, not a graceful close: the kernel would otherwise keep trickling the queued
    // bytes out to the slow reader, holding the socket's buffers as long as it likes.
    beast::error_code linger_ec;
    Socket().set_option(asio::socket_base::linger(true, 0), linger_ec);
    Close(/*reset=*/true);
  }

  void WriteReply(HttpReply reply) {
    if (closed_) return;
    reply_status_ = reply.status;
    if (reply.file) return WriteFileReply(std::move(reply));
    auto& res = string_response_.emplace(static_cast<http::status>(reply.status), 11);
    for (auto& [name, value] : reply.headers) res.set(name, value);
    res.set(http::field::content_type, reply.content_type);
    res.keep_alive(keep_alive_);
    res.body() = std::move(reply.body);
    res.prepare_payload();
    io_pending_ = true;
    http::async_write(stream_, res,
                      [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                        self->io_pending_ = false;
                        self->string_response_.reset();
                        if (ec) return self->Close();
                        self->FinishResponse();
                      });
  }

  void WriteFileReply(HttpReply reply) {
    file_ = std::move(*reply.file);
    segment_ = 0;
    next_offset_ = file_.first.offset + file_.first.length;
    auto& res = header_response_.emplace(static_cast<http::status>(reply.status), 11);
    for (auto& [name, value] : reply.headers) res.set(name, value);
    res.set(http::field::content_type, reply.content_type);
    res.keep_alive(keep_alive_);
    res.content_length(file_.end - file_.first.offset);
    serializer_.emplace(res);
    if constexpr (!kTls) {
      if (StartsWithPage() && SendHeaderNow()) return WriteNextSegment();
      if (closed_) return;
    }
    io_pending_ = true;
    http::async_write_header(stream_, *serializer_,
                             [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                               self->io_pending_ = false;
                               if (ec) return self->Close();
                               self->WriteNextSegment();
                             });
  }

  // Whether the reply's first bytes come from a page file (sent by sendfile right after the
  // header).
  [[nodiscard]] bool StartsWithPage() const {
    const auto& segments = file_.first.segments;
    return !segments.empty() && segments.front().is_page() && segments.front().length > 0;
  }

  // Writes the header straight to the socket, with no trip through the event loop between
  // header and body. When the body is small, with MSG_MORE, so that the header leaves in the
  // same TCP segment as the page bytes sendfile(2) sends next (whose last call pushes it out):
  // one packet and one wake-up of the reader instead of two. For larger bodies that measured
  // slower on loopback (bench/http_peer.py: 64 KiB and 1 MiB ranges), so the header goes out
  // alone. True once the whole header is written; false if the socket would block (the caller
  // writes the rest asynchronously) or failed (closed). Only for a reply that starts with a
  // page, or a held header could wait for data that never comes.
  bool SendHeaderNow() {
    if (!MakeNonBlocking()) return false;
    const int flags =
        MSG_NOSIGNAL | (file_.end - file_.first.offset <= kCoalesceHeaderBelow ? MSG_MORE : 0);
    serializer_->split(true);
    const int fd = Socket().native_handle();
    while (!serializer_->is_header_done()) {
      std::array<iovec, 32> iov{};
      std::size_t count = 0;
      beast::error_code ec;
      serializer_->next(ec, [&](beast::error_code&, const auto& buffers) {
        for (const auto buffer : beast::buffers_range_ref(buffers)) {
          if (count == iov.size()) break;
          iov[count++] = iovec{const_cast<void*>(buffer.data()), buffer.size()};
        }
      });
      if (ec) {
        Close();
        return false;
      }
      msghdr message{};
      message.msg_iov = iov.data();
      message.msg_iovlen = count;
      const ssize_t sent = ::sendmsg(fd, &message, flags);
      if (sent < 0 && errno == EINTR) continue;
      if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
      if (sent < 0) {
        Close();
        return false;
      }
      serializer_->consume(static_cast<std::size_t>(sent));
    }
    return true;
  }

  // Puts the socket in non-blocking mode once per connection (sendfile and sendmsg above use
  // it directly; Asio's own operations already expect it). False (closed) if that fails.
  bool MakeNonBlocking() {
    if (non_blocking_) return true;
    beast::error_code ec;
    Socket().native_non_blocking(true, ec);
    if (ec) {
      Abort("cannot make socket non-blocking", ec.message());
      return false;
    }
    non_blocking_ = true;
    return true;
  }

  // Sends the current window's segments in order, then plans the next window.
  void WriteNextSegment() {
    if (closed_) return;
    auto& segments = file_.first.segments;
    if (segment_ == segments.size()) {
      if (next_offset_ >= file_.end) return FinishFileReply();
      return PlanNextWindow();
    }
    ReadSegment& segment = segments[segment_];
    if (segment.is_page()) {
      sendfile_offset_ = static_cast<off_t>(segment.page.file_offset());
      sendfile_left_ = segment.length;
      if constexpr (kTls) {
        return SendPageChunk();
      } else {
        return SendFile();
      }
    }
    auto bytes = asio::buffer(segment.buffer->data() + segment.buffer_offset, segment.length);
    io_pending_ = true;
    asio::async_write(stream_, bytes,
                      [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                        self->io_pending_ = false;
                        if (ec) return self->Close();
                        Bump(self->ctx_.router.service().counters().bytes_served, n);
                        self->SegmentDone();
                      });
  }

  void SegmentDone() {
    auto& segment = file_.first.segments[segment_];
    // Release the page file and buffer as soon as they are sent.
    segment = ReadSegment{};
    ++segment_;
    WriteNextSegment();
  }

  // TLS: the next piece of the page slice, read from the page file and written encrypted.
  // The read is of a local page file, like sendfile's, so it stays on the I/O thread.
  void SendPageChunk() {
    if (tls_chunk_.empty()) tls_chunk_.resize(kTlsPageChunk);
    const int in_fd = file_.first.segments[segment_].page.fd();
    const std::size_t want = std::min<std::uint64_t>(sendfile_left_, tls_chunk_.size());
    ssize_t got = 0;
    do {
      got = ::pread(in_fd, tls_chunk_.data(), want, sendfile_offset_);
    } while (got < 0 && errno == EINTR);
    if (got <= 0) {
      return Abort("page file read failed", got < 0 ? std::strerror(errno) : "file ended early");
    }
    io_pending_ = true;
    asio::async_write(stream_, asio::buffer(tls_chunk_.data(), static_cast<std::size_t>(got)),
                      [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                        self->io_pending_ = false;
                        if (ec) return self->Close();
                        Bump(self->ctx_.router.service().counters().bytes_served, n);
                        self->sendfile_offset_ += static_cast<off_t>(n);
                        self->sendfile_left_ -= n;
                        if (self->sendfile_left_ > 0) return self->SendPageChunk();
                        self->SegmentDone();
                      });
  }

  void SendFile() {
    auto& socket = Socket();
    if (!MakeNonBlocking()) return;
    const int in_fd = file_.first.segments[segment_].page.fd();
    while (sendfile_left_ > 0) {
      const std::size_t chunk = std::min<std::uint64_t>(sendfile_left_, kSendfileChunk);
      const ssize_t sent = ::sendfile(socket.native_handle(), in_fd, &sendfile_offset_, chunk);
      if (sent > 0) {
        sendfile_left_ -= static_cast<std::uint64_t>(sent);
        Bump(ctx_.router.service().counters().bytes_served, static_cast<std::uint64_t>(sent));
        continue;
      }
      if (sent < 0 && errno == EINTR) continue;
      if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return WaitWritable();
      if (sent == 0) return Abort("page file ended early", "sendfile returned 0");
      // The client went away (EPIPE, ECONNRESET) or the page file failed: nothing more to say.
      if (errno != EPIPE && errno != ECONNRESET) {
        spdlog::warn("sendfile failed: {}", std::strerror(errno));
      }
      return Close();
    }
    SegmentDone();
  }

  // The socket buffer is full: wait until the client drains it (the response deadline closes
  // the socket, and so ends this wait, if it never does).
  void WaitWritable() {
    io_pending_ = true;
    Socket().async_wait(tcp::socket::wait_write,
                        [self = this->shared_from_this()](beast::error_code ec) {
                          self->io_pending_ = false;
                          if (ec || self->closed_) return self->Close();
                          self->SendFile();
                        });
  }

  void PlanNextWindow() {
    const FileStatus status = file_.first.status;
    const std::uint64_t offset = next_offset_;
    const std::uint64_t end = file_.end;
    // The sent window's segments are released before the next one is planned.
    file_.first.segments.clear();
    asio::post(ctx_.hits, [self = this->shared_from_this(), status, offset, end] {
      if (self->closed_) return;
      std::optional<Result<ReadPlan>> hit;
      try {
        hit = self->ctx_.router.TryNextWindowWithoutUnderStore(status, offset, end);
      } catch (const std::exception& e) {
        spdlog::warn("read of {} failed on the hit path: {}", status.path, e.what());
      }
      if (hit) return self->DeliverWindow(std::move(*hit));
      // Not refused when the queue is full: the response has begun and this connection
      // already holds its place; the connection cap bounds these.
      asio::post(self->ctx_.misses, [self, status, offset, end] {
        if (self->closed_) return;
        Result<ReadPlan> plan = Status::Internal("unreachable");
        try {
          plan = self->ctx_.router.NextWindow(status, offset, end);
        } catch (const std::exception& e) {
          plan = Status::Internal(e.what());
        }
        self->DeliverWindow(std::move(plan));
      });
    });
  }

  void DeliverWindow(Result<ReadPlan> plan) {
    asio::post(stream_.get_executor(), [self = this->shared_from_this(),
                                        plan = std::move(plan)]() mutable {
      if (self->closed_) return;
      if (!plan.ok()) {
        // The header promised more bytes: the only honest signal left is to hang up.
        return self->Abort("read of " + self->file_.first.status.path + " failed mid-body",
                           plan.status().ToString());
      }
      self->file_.first = std::move(plan).value();
      self->segment_ = 0;
      self->next_offset_ = self->file_.first.offset + self->file_.first.length;
      if (self->file_.first.length == 0) {
        return self->Abort("read of " + self->file_.first.status.path + " ended early",
                           "empty window");
      }
      self->WriteNextSegment();
    });
  }

  void FinishFileReply() {
    file_ = FileBody{};
    serializer_.reset();
    header_response_.reset();
    FinishResponse();
  }

  void FinishResponse() {
    RecordRequest();
    if (keep_alive_) return ReadRequest();
    Close();
  }

  // Metrics and the access log (debug level) of the response just finished. The target is not
  // logged whole: it is the caller's text; the endpoint and status say what happened.
  void RecordRequest() {
    if (request_endpoint_.empty()) {
      // A request that could not be parsed has no endpoint; it still counts.
      request_endpoint_ = "other";
    }
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - request_start_;
    ctx_.router.metrics().RecordRequest(request_endpoint_, reply_status_, elapsed);
    spdlog::debug("access: {} {} {} {:.3f} ms", request_method_, EndpointLabel(request_endpoint_),
                  reply_status_, elapsed.count() * 1000);
    request_endpoint_.clear();
    request_method_.clear();
  }

  void Abort(const std::string& what, const std::string& why) {
    spdlog::warn("{}: {}; closing the connection", what, why);
    Close();
  }

  // Closes the socket (which ends any pending operation) and, once no operation can still use
  // them, drops the buffers and page files of the response.
  void Close(bool reset = false) {
    closed_ = true;
    beast::error_code ec;
    deadline_.cancel();
    // Over TLS the connection ends without a close_notify: every response is delimited by
    // Content-Length, so a truncation cannot pass for a complete body.
    if (Socket().is_open()) {
      if (!reset) Socket().shutdown(tcp::socket::shutdown_send, ec);
      Socket().close(ec);
    }
    if (io_pending_) return;  // its handler calls Close again
    file_ = FileBody{};
    serializer_.reset();
    header_response_.reset();
    string_response_.reset();
    parser_.reset();
  }

  Stream stream_;
  ServerContext& ctx_;
  // The one timer of the idle and the response timeouts (see SetDue).
  asio::steady_timer deadline_;
  Phase phase_ = Phase::kWaitingForRequest;
  std::chrono::steady_clock::time_point due_;
  bool timer_pending_ = false;
  std::vector<char> tls_chunk_;      // TLS only: the page bytes being written
  std::atomic<bool> closed_{false};  // read by pool threads to skip a dead connection's work
  bool io_pending_ = false;          // an async operation may still use the response's buffers
  beast::flat_buffer buffer_{kReadBufferLimit};
  std::optional<http::request_parser<http::empty_body>> parser_;
  bool keep_alive_ = false;
  // The request being answered, for metrics and the access log.
  std::chrono::steady_clock::time_point request_start_ = std::chrono::steady_clock::now();
  std::string request_endpoint_;
  std::string request_method_;
  unsigned reply_status_ = 0;
  std::optional<http::response<http::string_body>> string_response_;
  std::optional<http::response<http::empty_body>> header_response_;
  std::optional<http::response_serializer<http::empty_body>> serializer_;
  bool non_blocking_ = false;  // the socket's O_NONBLOCK is set (MakeNonBlocking)
  FileBody file_;
  std::size_t segment_ = 0;
  std::uint64_t next_offset_ = 0;
  off_t sendfile_offset_ = 0;
  std::uint64_t sendfile_left_ = 0;
};

std::string CannedBusyResponse(unsigned max_connections) {
  http::response<http::string_body> res{http::status::service_unavailable, 11};
  res.set(protocol::kRetryAfterHeader, protocol::kRetryAfterSeconds);
  res.set(http::field::content_type, "application/json");
  res.keep_alive(false);
  res.body() = ErrorJson(protocol::WorkerBusy("too many connections (--max-connections " +
                                              std::to_string(max_connections) + ")"));
  res.prepare_payload();
  std::ostringstream out;
  out << res;
  return out.str();
}

// The address a host name or IP address listens on (a host name: its first address).
Result<tcp::endpoint> ResolveListen(asio::io_context& io, const std::string& host,
                                    std::uint16_t port) {
  beast::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (!ec) return tcp::endpoint(address, port);
  tcp::resolver resolver(io);
  const auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty()) {
    return Status::InvalidArgument("--host: cannot resolve '" + host +
                                   "': " + (ec ? ec.message() : "no addresses"));
  }
  return results.begin()->endpoint();
}

// A server context for the PEM certificate chain and key. TLS 1.2 at least; OpenSSL's default
// cipher list (its security level 2) otherwise.
Result<std::unique_ptr<ssl::context>> MakeTlsContext(const std::string& cert_file,
                                                     const std::string& key_file) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  beast::error_code ec;
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                       ec);
  if (!ec) context->use_certificate_chain_file(cert_file, ec);
  if (ec)
    return Status::InvalidArgument("--tls-cert: cannot use " + cert_file + ": " + ec.message());
  context->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec) return Status::InvalidArgument("--tls-key: cannot use " + key_file + ": " + ec.message());
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    return Status::InvalidArgument("--tls-key: " + key_file + " does not match --tls-cert " +
                                   cert_file);
  }
  return context;
}

}  // namespace

Status CheckListenPolicy(const std::string& host, bool has_token, bool insecure) {
  if (has_token || insecure) return Status::Ok();
  try {
    asio::io_context io;
    EC_ASSIGN_OR_RETURN(const tcp::endpoint endpoint, ResolveListen(io, host, 0));
    if (endpoint.address().is_loopback()) return Status::Ok();
  } catch (const std::exception& e) {
    return Status::InvalidArgument("--host: cannot resolve '" + host + "': " + e.what());
  }
  return Status::InvalidArgument(
      "refusing to listen on " + host +
      " without authentication: it is not a loopback address, so anyone who can reach the port "
      "could read everything this worker's credentials can. Give --auth-token-file FILE (and "
      "--tls-cert/--tls-key on an untrusted network), listen on 127.0.0.1, or pass --insecure "
      "to serve without authentication anyway");
}

struct HttpServer::Impl {
  Impl(ReadService& service, const HttpServerOptions& opts)
      : options(opts),
        router(service, opts.read_window_bytes),
        ios(MakeContexts(opts.io_threads)),
        acceptor(std::make_unique<tcp::acceptor>(ios.front()->get_executor())),
        accept_timer(std::make_unique<asio::steady_timer>(acceptor->get_executor())),
        hits(std::make_unique<asio::thread_pool>(opts.hit_threads)),
        misses(std::make_unique<asio::thread_pool>(opts.handler_threads)),
        context(router, *hits, *misses, options),
        busy_response(CannedBusyResponse(opts.max_connections)) {}

  ~Impl() { Stop(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // One io_context per I/O thread, each run by its own thread: a connection lives on one of
  // them (its handlers need no strand), and a handler posted from its own thread stays in that
  // thread's queue instead of waking another (with one context shared by every thread, each
  // completion could hand the connection to the other thread and back).
  static std::vector<std::unique_ptr<asio::io_context>> MakeContexts(unsigned count) {
    std::vector<std::unique_ptr<asio::io_context>> out;
    for (unsigned i = 0; i < std::max(1U, count); ++i) {
      out.push_back(std::make_unique<asio::io_context>(1));
    }
    return out;
  }

  // The context of the next accepted connection: round robin.
  asio::io_context& NextContext() { return *ios[next_io++ % ios.size()]; }

  void Accept() {
    acceptor->async_accept(NextContext(), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
      if (ec) return AcceptFailed(ec);
      accept_backoff = std::chrono::milliseconds(0);
      if (context.connections.fetch_add(1) >= options.max_connections) {
        context.connections.fetch_sub(1);
        // Over TLS a plain-text 503 would only be a handshake failure: just close.
        if (tls == nullptr && context.lingering.load() < kMaxLingering) {
          std::make_shared<Rejection>(std::move(socket), context, busy_response)->Start();
        }  // else the socket closes here: a flood gets resets, not descriptors
      } else {
        // Small JSON answers and response heads must not wait for Nagle's algorithm.
        socket.set_option(tcp::no_delay(true), ec);
        StartSession(std::move(socket));
      }
      Accept();
    });
  }

  void StartSession(tcp::socket&& socket) {
    if (tls != nullptr) {
      std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(context, std::move(socket),
                                                                      *tls)
          ->Start();
      return;
    }
    std::make_shared<Session<beast::tcp_stream>>(context, std::move(socket))->Start();
  }

  // Out of descriptors (EMFILE/ENFILE) and the like: the pending connection stays in the
  // backlog, so retrying at once would spin. Retry after a growing pause instead, and log the
  // condition at most once per kAcceptLogInterval.
  void AcceptFailed(const beast::error_code& ec) {
    accept_backoff = std::clamp(accept_backoff * 2, kAcceptBackoffMin, kAcceptBackoffMax);
    const auto now = std::chrono::steady_clock::now();
    if (!accept_logged || now - last_accept_log >= kAcceptLogInterval) {
      if (accept_suppressed > 0) {
        spdlog::warn(
            "accept failed: {} ({} more failures since the last report); retrying in {} ms",
            ec.message(), accept_suppressed, accept_backoff.count());
      } else {
        spdlog::warn("accept failed: {}; retrying in {} ms", ec.message(), accept_backoff.count());
      }
      accept_logged = true;
      last_accept_log = now;
      accept_suppressed = 0;
    } else {
      ++accept_suppressed;
    }
    accept_timer->expires_after(accept_backoff);
    accept_timer->async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec && acceptor->is_open()) Accept();
    });
  }

  // An exception escaping a handler means a connection was left in an unknown state. Running
  // the loop again (as this server once did) hides the fault and can spin on it; letting just
  // this thread end would silently shrink the server until no thread answers while the port
  // still accepts connections. So the server stops serving as a whole, says why once, and
  // tells its owner (the worker command exits non-zero, for a supervisor to restart it).
  void Run(asio::io_context& io) {
    try {
      io.run();
    } catch (const std::exception& e) {
      Fatal(std::string("an I/O thread failed: ") + e.what());
    } catch (...) {
      Fatal("an I/O thread failed with an unknown exception");
    }
  }

  void Fatal(const std::string& why) {
    if (failed.exchange(true)) return;
    spdlog::critical("worker HTTP server stopped serving: {}", why);
    for (auto& io : ios) io->stop();
    if (options.on_fatal) options.on_fatal(why);
  }

  // Teardown order matters: sessions live in pending handlers (in the io_context and the
  // pools) and own sockets of the io_context, so the pools go first, then the acceptor, then
  // the io_context, whose destruction destroys every session and so closes every connection.
  void Stop() {
    if (ios.empty()) return;
    for (auto& io : ios) io->stop();
    for (auto& thread : threads) thread.join();
    threads.clear();
    for (auto* pool : {hits.get(), misses.get()}) {
      pool->stop();
      pool->join();
    }
    hits.reset();
    misses.reset();
    accept_timer.reset();
    acceptor.reset();
    work.clear();
    ios.clear();
  }

  HttpServerOptions options;
  RequestRouter router;
  std::vector<std::unique_ptr<asio::io_context>> ios;  // the first also runs the acceptor
  // Keeps a context with no connection yet running.
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::size_t next_io = 0;  // touched only by the acceptor's handlers
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::steady_timer> accept_timer;
  std::unique_ptr<asio::thread_pool> hits;
  std::unique_ptr<asio::thread_pool> misses;
  ServerContext context;
  const std::string busy_response;
  std::unique_ptr<ssl::context> tls;  // set when serving HTTPS
  // Accept back-off and its rate-limited log; touched only on the acceptor's I/O thread (that
  // of the first io_context).
  std::chrono::milliseconds accept_backoff{0};
  bool accept_logged = false;
  std::chrono::steady_clock::time_point last_accept_log;
  std::uint64_t accept_suppressed = 0;
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  std::string host;
  std::uint16_t port = 0;
};

Result<std::unique_ptr<HttpServer>> HttpServer::Start(ReadService& service,
                                                      const HttpServerOptions& options) {
  // sendfile(2) to a socket the client has closed raises SIGPIPE, which would kill the
  // process; the error is handled as EPIPE instead.
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, nullptr);

  HttpServerOptions opts = options;
  if (opts.io_threads == 0) opts.io_threads = std::max(1U, std::thread::hardware_concurrency());
  if (opts.hit_threads == 0) opts.hit_threads = std::clamp(opts.io_threads, 2U, 4U);
  if (opts.handler_threads == 0) opts.handler_threads = std::max(8U, 4 * opts.io_threads);
  if (opts.max_connections == 0) {
    return Status::InvalidArgument("--max-connections: must be positive");
  }
  EC_RETURN_IF_ERROR(CheckListenPolicy(opts.host, !opts.auth_token.empty(), opts.insecure));
  if (opts.tls_cert_file.empty() != opts.tls_key_file.empty()) {
    return Status::InvalidArgument("--tls-cert and --tls-key: give both or neither");
  }
  try {
    auto impl = std::make_unique<Impl>(service, opts);
    if (!opts.tls_cert_file.empty()) {
      EC_ASSIGN_OR_RETURN(impl->tls, MakeTlsContext(opts.tls_cert_file, opts.tls_key_file));
    }
    EC_ASSIGN_OR_RETURN(const tcp::endpoint endpoint,
                        ResolveListen(*impl->ios.front(), opts.host, opts.port));
    if (opts.auth_token.empty() && !endpoint.address().is_loopback()) {
      spdlog::warn(
          "--insecure: listening on {} WITHOUT AUTHENTICATION: anyone who can reach this port can "
          "read and list everything this worker's credentials can",
          opts.host);
    }
    beast::error_code ec;
    impl->acceptor->open(endpoint.protocol(), ec);
    if (!ec) impl->acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) impl->acceptor->bind(endpoint, ec);
    if (!ec) impl->acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Status::Unavailable("cannot listen on " + opts.host + ":" + std::to_string(opts.port) +
                                 ": " + ec.message());
    }
    impl->host = opts.host;
    impl->port = impl->acceptor->local_endpoint().port();
    impl->Accept();
    for (auto& io : impl->ios) {
      impl->work.push_back(asio::make_work_guard(*io));
      impl->threads.emplace_back([raw = impl.get(), context = io.get()] { raw->Run(*context); });
    }
    return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
  } catch (const std::exception& e) {
    return Status::Internal(std::string("starting the HTTP server: ") + e.what());
  }
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

const std::string& HttpServer::host() const { return impl_->host; }
std::uint16_t HttpServer::port() const { return impl_->port; }

void HttpServer::Stop() {
  if (impl_ != nullptr) impl_->Stop();
}

}  // namespace epochcache::worker
