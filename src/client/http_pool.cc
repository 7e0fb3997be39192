#include "client/http_pool.h"

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <deque>
#include <future>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "client/inline_http.h"
#include "protocol/wire.h"

namespace epochcache::client {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using Clock = std::chrono::steady_clock;

// Response headers are read through a small buffer; the body goes straight to its destination
// (a few bytes of it may arrive together with the headers and are copied once from here).
constexpr std::size_t kHeaderBufferLimit = std::size_t{16} * 1024;
constexpr std::size_t kMaxIdlePerHost = 64;
constexpr std::size_t kInitialChunkedBody = 4096;

// A connection to one worker: plain TCP, or TLS over it.
struct Connection {
  Connection(asio::io_context& ioc, ssl::context* tls_context) {
    if (tls_context != nullptr) {
      tls = std::make_unique<TlsStream>(asio::make_strand(ioc), *tls_context);
    } else {
      plain = std::make_unique<beast::tcp_stream>(asio::make_strand(ioc));
    }
  }

  beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

  // Runs `f` on the stream that carries HTTP.
  template <typename F>
  void With(F&& f) {
    if (tls) {
      std::forward<F>(f)(*tls);
    } else {
      std::forward<F>(f)(*plain);
    }
  }

  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<TlsStream> tls;
  beast::flat_buffer buffer{kHeaderBufferLimit};
};

std::int64_t Millis(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace

Result<HostPort> SplitHostPort(std::string_view address) {
  std::string_view rest = address;
  if (rest.starts_with("http://")) rest.remove_prefix(7);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  HostPort out;
  std::string_view port;
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      return Status::InvalidArgument(
          fmt::format("worker address '{}' is not [host]:port", address));
    }
    out.host = std::string(rest.substr(1, close - 1));
    port = rest.substr(close + 2);
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
      return Status::InvalidArgument(fmt::format("worker address '{}' is not host:port", address));
    }
    out.host = std::string(rest.substr(0, colon));
    port = rest.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Status::InvalidArgument(
        fmt::format("worker address '{}' has no valid port number", address));
  }
  out.port = std::string(port);
  return out;
}

namespace {

// The TLS client context: peers are verified against `ca_file` (or the system's CAs).
Result<std::unique_ptr<ssl::context>> MakeTlsContext(const std::string& ca_file) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  if (SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION) != 1) {
    return Status::Internal("cannot require TLS 1.2 or later");
  }
  ctx->set_verify_mode(ssl::verify_peer);
  beast::error_code ec;
  if (ca_file.empty()) {
    ctx->set_default_verify_paths(ec);
    if (ec) return Status::InvalidArgument("tls: cannot load the system CAs: " + ec.message());
  } else {
    ctx->load_verify_file(ca_file, ec);
    if (ec) {
      return Status::InvalidArgument(
          fmt::format("tls_ca: cannot load the PEM CA bundle '{}': {}", ca_file, ec.message()));
    }
  }
  return ctx;
}

}  // namespace

class HttpPool::Impl {
 public:
  Impl(HttpPoolOptions options, std::unique_ptr<ssl::context> tls_context)
      : options_(std::move(options)),
        tls_context_(std::move(tls_context)),
        work_(asio::make_work_guard(ioc_)) {
    const std::size_t threads = std::max<std::size_t>(1, options_.io_threads);
    for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }

  ~Impl() {
    {
      std::lock_guard lock(mu_);
      idle_.clear();
      queue_.clear();
    }
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_) t.join();
  }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  asio::io_context& ioc() { return ioc_; }
  const HttpPoolOptions& options() const { return options_; }
  // Null without TLS.
  ssl::context* tls_context() { return tls_context_.get(); }
  InlineConnections& inline_connections() { return inline_; }

  // Starts `start` now if fewer than max_parallel_requests are in flight, else queues it.
  void Submit(std::function<void()> start) {
    {
      std::lock_guard lock(mu_);
      if (in_flight_ >= std::max<std::size_t>(1, options_.max_parallel_requests)) {
        queue_.push_back(std::move(start));
        return;
      }
      ++in_flight_;
    }
    asio::post(ioc_, std::move(start));
  }

  // Takes a slot for a request run by its caller, if one is free without queueing; the
  // request then calls Release when finished.
  bool TryAcquire() {
    std::lock_guard lock(mu_);
    if (in_flight_ >= std::max<std::size_t>(1, options_.max_parallel_requests)) return false;
    ++in_flight_;
    return true;
  }

  // Called once by every request that Submit or TryAcquire started, when it is finished.
  void Release() {
    std::function<void()> next;
    {
      std::lock_guard lock(mu_);
      if (queue_.empty()) {
        --in_flight_;
        return;
      }
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    asio::post(ioc_, std::move(next));
  }

  std::unique_ptr<Connection> TakeIdle(const std::string& host) {
    std::lock_guard lock(mu_);
    auto it = idle_.find(host);
    if (it == idle_.end() || it->second.empty()) return nullptr;
    auto conn = std::move(it->second.back());
    it->second.pop_back();
    return conn;
  }

  void PutIdle(const std::string& host, std::unique_ptr<Connection> conn) {
    std::lock_guard lock(mu_);
    auto& list = idle_[host];
    if (list.size() < kMaxIdlePerHost) list.push_back(std::move(conn));
  }

 private:
  // Declared first so that it is destroyed last: connections and queued work refer to it.
  asio::io_context ioc_;
  const HttpPoolOptions options_;
  const std::unique_ptr<ssl::context> tls_context_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::mutex mu_;
  std::size_t in_flight_ = 0;
  std::deque<std::function<void()>> queue_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;
  InlineConnections inline_;
  std::vector<std::thread> threads_;
};

namespace {

// One GET, from picking a connection to handing the response to its callback.
class Op : public std::enable_shared_from_this<Op> {
 public:
  Op(HttpPool::Impl& pool, std::string host, HttpRequest request, std::span<std::byte> sink,
     HttpCallback done)
      : pool_(pool),
        host_(std::move(host)),
        request_(std::move(request)),
        sink_(sink),
        done_(std::move(done)) {}

  void Start() {
    if (request_.cancelled && request_.cancelled->load()) {
      return Finish(Status::Rejected("request cancelled"));
    }
    auto hp = SplitHostPort(host_);
    if (!hp.ok()) return Finish(hp.status());
    host_port_ = std::move(hp).value();
    conn_ = pool_.TakeIdle(host_);
    if (conn_) {
      Send();
    } else {
      Connect();
    }
  }

 private:
  void Connect() {
    conn_ = std::make_unique<Connection>(pool_.ioc(), pool_.tls_context());
    if (conn_->tls) {
      if (Status s = SetPeerIdentity(); !s.ok()) return Finish(std::move(s));
    }
    resolver_ = std::make_unique<tcp::resolver>(pool_.ioc());
    resolver_->async_resolve(host_port_.host, host_port_.port,
                             [self = shared_from_this()](
                                 beast::error_code ec, const tcp::resolver::results_type& results) {
                               self->OnResolve(ec, results);
                             });
  }

  void OnResolve(beast::error_code ec, const tcp::resolver::results_type& results) {
    if (ec) {
      return Finish(Status::Unavailable(
          fmt::format("worker {} unreachable: cannot resolve host: {}", host_, ec.message())));
    }
    auto timeout = std::chrono::duration_cast<Clock::duration>(pool_.options().connect_timeout);
    if (deadline_) timeout = std::min(timeout, *deadline_ - Clock::now());
    timeout = std::max<Clock::duration>(timeout, std::chrono::milliseconds(1));
    connect_timeout_ = timeout;
    conn_->tcp().expires_after(timeout);
    conn_->tcp().async_connect(
        results, [self = shared_from_this()](beast::error_code ec2, const tcp::endpoint&) {
          self->OnConnect(ec2);
        });
  }

  void OnConnect(beast::error_code ec) {
    if (ec == beast::error::timeout) {
      return Finish(
          Status::Timeout(fmt::format("worker {} unreachable: connect timed out after {} ms", host_,
                                      Millis(connect_timeout_))));
    }
    if (ec) {
      return Finish(
          Status::Unavailable(fmt::format("worker {} unreachable: {}", host_, ec.message())));
    }
    beast::error_code ignored;
    conn_->tcp().socket().set_option(tcp::no_delay(true), ignored);
    if (!conn_->tls) return Send();
    // The handshake runs under what is left of the connect deadline.
    conn_->tls->async_handshake(
        ssl::stream_base::client,
        [self = shared_from_this()](beast::error_code ec2) { self->OnHandshake(ec2); });
  }

  // What the worker's certificate must name: the host of its address. A name is also sent as
  // SNI; an IP address is checked against the certificate's IP entries (and never sent as SNI,
  // which RFC 6066 reserves for names).
  Status SetPeerIdentity() {
    SSL* ssl = conn_->tls->native_handle();
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    beast::error_code not_ip;
    asio::ip::make_address(host_port_.host, not_ip);
    const bool ok = not_ip ? SSL_set_tlsext_host_name(ssl, host_port_.host.c_str()) == 1 &&
                                 X509_VERIFY_PARAM_set1_host(param, host_port_.host.c_str(), 0) == 1
                           : X509_VERIFY_PARAM_set1_ip_asc(param, host_port_.host.c_str()) == 1;
    if (!ok) {
      return Status::InvalidArgument(fmt::format(
          "worker {}: '{}' cannot be checked against a TLS certificate", host_, host_port_.host));
    }
    return Status::Ok();
  }

  void OnHandshake(beast::error_code ec) {
    if (!ec) return Send();
    if (ec == beast::error::timeout) {
      return Finish(Status::Timeout(fmt::format(
          "worker {} unreachable: TLS handshake timed out after {} ms (is it serving TLS?)", host_,
          Millis(connect_timeout_))));
    }
    const auto verify = SSL_get_verify_result(conn_->tls->native_handle());
    if (verify != X509_V_OK) {
      // Final, not a reason to try elsewhere: a worker that cannot prove who it is may be an
      // impostor, and quietly reading around it (other workers, the store directly) would
      // hide a misconfigured tls_ca or an attack behind slower reads.
      return Finish(Status::Unauthenticated(fmt::format(
          "worker {} failed TLS verification: {} (check tls_ca, and that the certificate "
          "names {})",
          host_, X509_verify_cert_error_string(verify), host_port_.host)));
    }
    Finish(Status::Unavailable(
        fmt::format("worker {} unreachable: TLS handshake failed: {}", host_, ec.message())));
  }

  void Send() {
    if (!deadline_) deadline_ = Clock::now() + pool_.options().request_timeout;
    req_ = {};
    req_.method(request_.post ? http::verb::post : http::verb::get);
    req_.target(request_.target);
    req_.version(11);
    req_.set(http::field::host, host_);
    req_.set(http::field::user_agent, "epochcache-client");
    req_.keep_alive(true);
    if (!pool_.options().auth_token.empty()) {
      req_.set(http::field::authorization,
               std::string(protocol::kBearerPrefix) + pool_.options().auth_token);
    }
    if (request_.range) {
      req_.set(http::field::range,
               fmt::format("bytes={}-{}", request_.range->first, request_.range->second));
    }
    conn_->buffer.clear();
    conn_->tcp().expires_at(*deadline_);
    conn_->With([this](auto& stream) {
      http::async_write(
          stream, req_,
          [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnWrite(ec); });
    });
  }

  void OnWrite(beast::error_code ec) {
    if (ec) return FailBeforeResponse(ec);
    parser_.emplace();
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    conn_->With([this](auto& stream) {
      http::async_read_header(
          stream, conn_->buffer, *parser_,
          [self = shared_from_this()](beast::error_code ec2, std::size_t) { self->OnHeader(ec2); });
    });
  }

  // Nothing of the response arrived: the connection was stale or broke. One fresh try.
  void FailBeforeResponse(beast::error_code ec) {
    if (ec != beast::error::timeout && !retried_) {
      retried_ = true;
      conn_.reset();
      return Connect();
    }
    Finish(TransportError(ec, "before answering"));
  }

  Status TransportError(beast::error_code ec, std::string_view when) const {
    if (ec == beast::error::timeout) {
      return Status::Timeout(fmt::format("worker {} did not answer within {} ms", host_,
                                         pool_.options().request_timeout.count()));
    }
    return Status::Unavailable(fmt::format("worker {} failed {}: {}", host_, when, ec.message()));
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return FailBeforeResponse(ec);
    const auto& msg = parser_->get();
    response_.status = msg.result_int();
    response_.content_range = std::string(msg[http::field::content_range]);
    response_.version = std::string(
        msg[beast::string_view(protocol::kVersionHeader.data(), protocol::kVersionHeader.size())]);
    const auto length = parser_->content_length();
    if (response_.status / 100 == 2 && sink_.data() != nullptr) {
      if (length && *length != sink_.size()) {
        return Finish(
            Status::IoError(fmt::format("worker {} sent a body of {} bytes for {}, expected {}",
                                        host_, *length, request_.target, sink_.size())));
      }
      dst_ = reinterpret_cast<char*>(sink_.data());
      cap_ = sink_.size();
    } else {
      if (length && *length > pool_.options().max_body) {
        return Finish(Status::IoError(fmt::format("worker {} sent a body of {} bytes for {}", host_,
                                                  *length, request_.target)));
      }
      growable_ = !length.has_value();
      body_.resize(length ? static_cast<std::size_t>(*length) : kInitialChunkedBody);
      dst_ = body_.data();
      cap_ = body_.size();
    }
    if (parser_->is_done()) return Complete();
    if (length && !parser_->chunked()) return ReadRawBody();
    ReadBody();
  }

  // With a known length the body is read from the socket straight into its destination in
  // large reads, bypassing the parser (which would stage every byte through the small header
  // buffer). Only the body bytes that arrived together with the headers are copied.
  void ReadRawBody() {
    const std::size_t early = std::min(conn_->buffer.size(), cap_);
    asio::buffer_copy(asio::buffer(dst_, early), conn_->buffer.data());
    conn_->buffer.consume(early);
    filled_ = early;
    if (filled_ == cap_) return Complete();
    conn_->With([this](auto& stream) {
      asio::async_read(
          stream, asio::buffer(dst_ + filled_, cap_ - filled_),
          [self = shared_from_this()](beast::error_code ec, std::size_t n) {
            self->filled_ += n;
            if (ec) {
              return self->Finish(self->TransportError(ec, "in the middle of a response body"));
            }
            self->Complete();
          });
    });
  }

  void ReadBody() {
    auto& body = parser_->get().body();
    body.data = dst_ + filled_;
    body.size = cap_ - filled_;
    conn_->With([this](auto& stream) {
      http::async_read(
          stream, conn_->buffer, *parser_,
          [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnBody(ec); });
    });
  }

  void OnBody(beast::error_code ec) {
    filled_ = cap_ - parser_->get().body().size;
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return Finish(TransportError(ec, "in the middle of a response body"));
    if (parser_->is_done()) return Complete();
    if (filled_ == cap_) {
      if (!growable_ || cap_ >= pool_.options().max_body) {
        return Finish(Status::IoError(fmt::format(
            "worker {} sent more body bytes than expected for {}", host_, request_.target)));
      }
      body_.resize(std::min(cap_ * 2, pool_.options().max_body));
      dst_ = body_.data();
      cap_ = body_.size();
    }
    ReadBody();
  }

  void Complete() {
    if (dst_ == body_.data()) {
      body_.resize(filled_);
      response_.body = std::move(body_);
    } else {
      response_.sink_bytes = filled_;
    }
    // Bytes beyond the message mean the connection is out of step: do not reuse it.
    if (parser_->keep_alive() && conn_->buffer.size() == 0) {
      pool_.PutIdle(host_, std::move(conn_));
    }
    Finish(std::move(response_));
  }

  void Finish(Result<HttpResponse> result) {
    conn_.reset();  // a connection still held here is in an unknown state: close it
    auto done = std::move(done_);
    pool_.Release();
    done(std::move(result));
  }

  HttpPool::Impl& pool_;
  const std::string host_;
  const HttpRequest request_;
  const std::span<std::byte> sink_;
  HttpCallback done_;

  HostPort host_port_;
  std::unique_ptr<tcp::resolver> resolver_;
  std::unique_ptr<Connection> conn_;
  std::optional<Clock::time_point> deadline_;
  Clock::duration connect_timeout_{};
  bool retried_ = false;
  http::request<http::empty_body> req_;
  std::optional<http::response_parser<http::buffer_body>> parser_;
  HttpResponse response_;
  std::string body_;
  char* dst_ = nullptr;
  std::size_t cap_ = 0;
  std::size_t filled_ = 0;
  bool growable_ = false;
};

}  // namespace

Result<std::unique_ptr<HttpPool>> HttpPool::Create(HttpPoolOptions options) {
  std::unique_ptr<ssl::context> tls_context;
  if (options.tls || !options.tls_ca.empty()) {
    EC_ASSIGN_OR_RETURN(tls_context, MakeTlsContext(options.tls_ca));
  }
  return std::unique_ptr<HttpPool>(
      new HttpPool(std::make_unique<Impl>(std::move(options), std::move(tls_context))));
}

HttpPool::HttpPool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpPool::~HttpPool() = default;

void HttpPool::AsyncGet(std::string host, HttpRequest request, std::span<std::byte> sink,
                        HttpCallback done) {
  auto op =
      std::make_shared<Op>(*impl_, std::move(host), std::move(request), sink, std::move(done));
  impl_->Submit([op] { op->Start(); });
}

Result<HttpResponse> HttpPool::Fetch(const std::string& host, const HttpRequest& request,
                                     std::span<std::byte> sink) {
  // Run here when a slot is free; otherwise queued like any asynchronous request, so that
  // max_parallel_requests stays a bound for both.
  if (impl_->tls_context() == nullptr && impl_->TryAcquire()) {
    auto r = InlineExchange(impl_->inline_connections(), impl_->options(), host, request, sink);
    impl_->Release();
    return r;
  }
  // Shared, so that the promise outlives set_value even after the waiter has returned.
  auto promise = std::make_shared<std::promise<Result<HttpResponse>>>();
  auto future = promise->get_future();
  AsyncGet(host, request, sink,
           [promise](Result<HttpResponse> r) { promise->set_value(std::move(r)); });
  return future.get();
}

Result<HttpResponse> HttpPool::Get(const std::string& host, const HttpRequest& request) {
  return Fetch(host, request, std::span<std::byte>());
}

}  // namespace epochcache::client
