#include "worker/http_server.h"

#include <spdlog/spdlog.h>
#include <sys/sendfile.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "worker/request_router.h"

namespace epochcache::worker {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr std::uint32_t kHeaderLimit = 8 * 1024;
// The read buffer holds one request head (plus whatever a pipelining client sent after it).
constexpr std::size_t kReadBufferLimit = std::size_t{64} * 1024;
// sendfile(2) moves at most this much per call; the loop continues until the slice is sent.
constexpr std::size_t kSendfileChunk = 1 << 30;

struct ServerContext {
  RequestRouter& router;
  asio::thread_pool& handlers;
  const HttpServerOptions& options;
};

// True for errors that just mean the peer went away or was too slow: closed without a word.
bool IsDisconnect(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == beast::error::timeout ||
         ec == asio::error::operation_aborted || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == http::error::partial_message;
}

// One client connection: reads a request, answers it, repeats while keep-alive holds.
// Every member is touched only on the connection's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, ServerContext& ctx)
      : stream_(std::move(socket)), ctx_(ctx), write_timer_(stream_.get_executor()) {}

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadRequest(); });
  }

 private:
  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(0);  // requests have no body
    stream_.expires_after(ctx_.options.idle_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec) {
      if (IsDisconnect(ec)) return Close();
      // A request we cannot parse: say so (best effort) and hang up, since the stream's
      // framing can no longer be trusted.
      const bool too_large = ec == http::error::header_limit || ec == http::error::buffer_overflow;
      HttpReply reply;
      reply.status = too_large ? 431 : 400;
      reply.body = ErrorJson(Status::InvalidArgument(
          std::string(too_large ? "request header too large: " : "malformed request: ") +
          ec.message()));
      Bump(ctx_.router.service().counters().errors);
      keep_alive_ = false;
      return WriteReply(std::move(reply));
    }
    const auto& head = parser_->get();
    HttpRequest request;
    request.method = std::string(head.method_string());
    request.target = std::string(head.target());
    if (auto it = head.find(http::field::range); it != head.end()) {
      request.range = std::string(it->value());
    }
    keep_alive_ = head.keep_alive();
    stream_.expires_never();
    // Health and stats never touch the under store: answer them here, so that they stay
    // prompt while every handler thread waits on a slow remote read.
    const std::string_view path =
        std::string_view(request.target).substr(0, std::string_view(request.target).find('?'));
    if (path == "/v1/health" || path == "/v1/stats") return WriteReply(SafeHandle(request));
    // Everything else on the handler pool: planning a read may block on the under store.
    asio::post(ctx_.handlers, [self = shared_from_this(), request = std::move(request)] {
      HttpReply reply = self->SafeHandle(request);
      asio::post(self->stream_.get_executor(), [self, reply = std::move(reply)]() mutable {
        self->WriteReply(std::move(reply));
      });
    });
  }

  HttpReply SafeHandle(const HttpRequest& request) {
    try {
      return ctx_.router.Handle(request);
    } catch (const std::exception& e) {
      spdlog::warn("request {} failed: {}", request.target, e.what());
      HttpReply reply;
      reply.status = 500;
      reply.body = ErrorJson(Status::Internal(e.what()));
      return reply;
    }
  }

  void WriteReply(HttpReply reply) {
    if (reply.file) return WriteFileReply(std::move(reply));
    auto& res = string_response_.emplace(static_cast<http::status>(reply.status), 11);
    for (auto& [name, value] : reply.headers) res.set(name, value);
    res.set(http::field::content_type, reply.content_type);
    res.keep_alive(keep_alive_);
    res.body() = std::move(reply.body);
    res.prepare_payload();
    stream_.expires_after(ctx_.options.write_timeout);
    http::async_write(stream_, res, [self = shared_from_this()](beast::error_code ec, std::size_t) {
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
    stream_.expires_after(ctx_.options.write_timeout);
    http::async_write_header(stream_, *serializer_,
                             [self = shared_from_this()](beast::error_code ec, std::size_t) {
                               if (ec) return self->Close();
                               self->WriteNextSegment();
                             });
  }

  // Sends the current window's segments in order, then plans the next window.
  void WriteNextSegment() {
    auto& segments = file_.first.segments;
    if (segment_ == segments.size()) {
      if (next_offset_ >= file_.end) return FinishFileReply();
      return PlanNextWindow();
    }
    ReadSegment& segment = segments[segment_];
    if (segment.is_page()) {
      sendfile_offset_ = static_cast<off_t>(segment.page.file_offset());
      sendfile_left_ = segment.length;
      return SendFile();
    }
    stream_.expires_after(ctx_.options.write_timeout);
    auto bytes = asio::buffer(segment.buffer->data() + segment.buffer_offset, segment.length);
    asio::async_write(stream_, bytes,
                      [self = shared_from_this()](beast::error_code ec, std::size_t n) {
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

  void SendFile() {
    auto& socket = stream_.socket();
    beast::error_code ec;
    socket.native_non_blocking(true, ec);
    if (ec) return Abort("cannot make socket non-blocking", ec.message());
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

  // The socket buffer is full: wait until the client drains it, at most the write timeout.
  void WaitWritable() {
    write_timer_.expires_after(ctx_.options.write_timeout);
    write_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->Close();  // expired: the client stopped reading
    });
    stream_.socket().async_wait(tcp::socket::wait_write,
                                [self = shared_from_this()](beast::error_code ec) {
                                  self->write_timer_.cancel();
                                  if (ec) return self->Close();
                                  self->SendFile();
                                });
  }

  void PlanNextWindow() {
    const FileStatus status = file_.first.status;
    const std::uint64_t offset = next_offset_;
    const std::uint64_t end = file_.end;
    asio::post(ctx_.handlers, [self = shared_from_this(), status, offset, end] {
      auto plan = self->ctx_.router.NextWindow(status, offset, end);
      asio::post(self->stream_.get_executor(), [self, plan = std::move(plan)]() mutable {
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
    });
  }

  void FinishFileReply() {
    file_ = FileBody{};
    serializer_.reset();
    header_response_.reset();
    FinishResponse();
  }

  void FinishResponse() {
    if (keep_alive_) return ReadRequest();
    Close();
  }

  void Abort(const std::string& what, const std::string& why) {
    spdlog::warn("{}: {}; closing the connection", what, why);
    Close();
  }

  void Close() {
    beast::error_code ec;
    write_timer_.cancel();
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  ServerContext& ctx_;
  asio::steady_timer write_timer_;
  beast::flat_buffer buffer_{kReadBufferLimit};
  std::optional<http::request_parser<http::empty_body>> parser_;
  bool keep_alive_ = false;
  std::optional<http::response<http::string_body>> string_response_;
  std::optional<http::response<http::empty_body>> header_response_;
  std::optional<http::response_serializer<http::empty_body>> serializer_;
  FileBody file_;
  std::size_t segment_ = 0;
  std::uint64_t next_offset_ = 0;
  off_t sendfile_offset_ = 0;
  std::uint64_t sendfile_left_ = 0;
};

}  // namespace

struct HttpServer::Impl {
  Impl(ReadService& service, const HttpServerOptions& opts)
      : options(opts),
        router(service, opts.read_window_bytes),
        io(std::make_unique<asio::io_context>(static_cast<int>(opts.io_threads))),
        acceptor(std::make_unique<tcp::acceptor>(asio::make_strand(*io))),
        handlers(std::make_unique<asio::thread_pool>(opts.handler_threads)),
        context{router, *handlers, options} {}

  ~Impl() { Stop(); }

  void Accept() {
    acceptor->async_accept(asio::make_strand(*io),
                           [this](beast::error_code ec, tcp::socket socket) {
                             if (ec == asio::error::operation_aborted || !acceptor->is_open())
                               return;
                             if (ec) {
                               // Out of descriptors and the like: keep listening, the condition may
                               // pass.
                               spdlog::warn("accept failed: {}", ec.message());
                             } else {
                               // Small JSON answers and response heads must not wait for Nagle's
                               // algorithm.
                               socket.set_option(tcp::no_delay(true), ec);
                               std::make_shared<Session>(std::move(socket), context)->Start();
                             }
                             Accept();
                           });
  }

  void Run() {
    for (;;) {
      try {
        io->run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("worker I/O thread caught: {}", e.what());
      }
    }
  }

  // Teardown order matters: sessions live in pending handlers (in the io_context and the
  // handler pool) and own sockets of the io_context, so the pool goes first, then the
  // acceptor, then the io_context, whose destruction destroys every session and so closes
  // every connection.
  void Stop() {
    if (io == nullptr) return;
    io->stop();
    for (auto& thread : threads) thread.join();
    threads.clear();
    handlers->stop();
    handlers->join();
    handlers.reset();
    acceptor.reset();
    io.reset();
  }

  HttpServerOptions options;
  RequestRouter router;
  std::unique_ptr<asio::io_context> io;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::thread_pool> handlers;
  ServerContext context;
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
  if (opts.handler_threads == 0) opts.handler_threads = std::max(8U, 4 * opts.io_threads);
  try {
    auto impl = std::make_unique<Impl>(service, opts);
    beast::error_code ec;
    tcp::endpoint endpoint;
    const auto address = asio::ip::make_address(opts.host, ec);
    if (!ec) {
      endpoint = tcp::endpoint(address, opts.port);
    } else {
      // A host name ("localhost"): listen on the first address it resolves to.
      tcp::resolver resolver(*impl->io);
      const auto results = resolver.resolve(opts.host, std::to_string(opts.port), ec);
      if (ec || results.empty()) {
        return Status::InvalidArgument("--host: cannot resolve '" + opts.host +
                                       "': " + (ec ? ec.message() : "no addresses"));
      }
      endpoint = results.begin()->endpoint();
    }
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
    for (unsigned i = 0; i < opts.io_threads; ++i) {
      impl->threads.emplace_back([raw = impl.get()] { raw->Run(); });
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
