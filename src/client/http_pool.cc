#include "client/http_pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <future>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace epochcache::client {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// Response headers are read through a small buffer; the body goes straight to its destination
// (a few bytes of it may arrive together with the headers and are copied once from here).
constexpr std::size_t kHeaderBufferLimit = std::size_t{16} * 1024;
constexpr std::size_t kMaxIdlePerHost = 64;
constexpr std::size_t kInitialChunkedBody = 4096;

struct Connection {
  explicit Connection(asio::io_context& ioc) : stream(asio::make_strand(ioc)) {}
  beast::tcp_stream stream;
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

class HttpPool::Impl {
 public:
  explicit Impl(HttpPoolOptions options)
      : options_(std::move(options)), work_(asio::make_work_guard(ioc_)) {
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

  // Called once by every request that Submit started, when it is finished.
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
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::mutex mu_;
  std::size_t in_flight_ = 0;
  std::deque<std::function<void()>> queue_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;
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
    conn_ = std::make_unique<Connection>(pool_.ioc());
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
    conn_->stream.expires_after(timeout);
    conn_->stream.async_connect(
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
    conn_->stream.socket().set_option(tcp::no_delay(true), ignored);
    Send();
  }

  void Send() {
    if (!deadline_) deadline_ = Clock::now() + pool_.options().request_timeout;
    req_ = {};
    req_.method(http::verb::get);
    req_.target(request_.target);
    req_.version(11);
    req_.set(http::field::host, host_);
    req_.set(http::field::user_agent, "epochcache-client");
    req_.keep_alive(true);
    if (!pool_.options().auth_token.empty()) {
      req_.set(http::field::authorization, "Bearer " + pool_.options().auth_token);
    }
    if (request_.range) {
      req_.set(http::field::range,
               fmt::format("bytes={}-{}", request_.range->first, request_.range->second));
    }
    conn_->buffer.clear();
    conn_->stream.expires_at(*deadline_);
    http::async_write(
        conn_->stream, req_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnWrite(ec); });
  }

  void OnWrite(beast::error_code ec) {
    if (ec) return FailBeforeResponse(ec);
    parser_.emplace();
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    http::async_read_header(
        conn_->stream, conn_->buffer, *parser_,
        [self = shared_from_this()](beast::error_code ec2, std::size_t) { self->OnHeader(ec2); });
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
    response_.version = std::string(msg["X-Epochcache-Version"]);
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
    asio::async_read(
        conn_->stream, asio::buffer(dst_ + filled_, cap_ - filled_),
        [self = shared_from_this()](beast::error_code ec, std::size_t n) {
          self->filled_ += n;
          if (ec) {
            return self->Finish(self->TransportError(ec, "in the middle of a response body"));
          }
          self->Complete();
        });
  }

  void ReadBody() {
    auto& body = parser_->get().body();
    body.data = dst_ + filled_;
    body.size = cap_ - filled_;
    http::async_read(
        conn_->stream, conn_->buffer, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnBody(ec); });
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

HttpPool::HttpPool(HttpPoolOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpPool::~HttpPool() = default;

void HttpPool::AsyncGet(std::string host, HttpRequest request, std::span<std::byte> sink,
                        HttpCallback done) {
  auto op =
      std::make_shared<Op>(*impl_, std::move(host), std::move(request), sink, std::move(done));
  impl_->Submit([op] { op->Start(); });
}

Result<HttpResponse> HttpPool::Get(std::string host, HttpRequest request) {
  // Shared, so that the promise outlives set_value even after the waiter has returned.
  auto promise = std::make_shared<std::promise<Result<HttpResponse>>>();
  auto future = promise->get_future();
  AsyncGet(std::move(host), std::move(request), std::span<std::byte>(),
           [promise](Result<HttpResponse> r) { promise->set_value(std::move(r)); });
  return future.get();
}

}  // namespace epochcache::client
