#include "fake_worker.h"

#include <fmt/format.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <optional>
#include <utility>

#include "protocol/error_json.h"
#include "protocol/file_status_json.h"
#include "protocol/status_http.h"
#include "protocol/target.h"
#include "protocol/wire.h"

namespace epochcache::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

// The fake's mtime for every file.
constexpr std::int64_t kMtimeNs = 1700000000000000000LL;

// An error answer as a worker sends it: the status of `status`'s code, its JSON error body.
http::response<http::string_body> ErrorAnswer(const Status& status) {
  http::response<http::string_body> res{
      static_cast<http::status>(protocol::HttpStatusFor(status.code())), 11};
  res.set(http::field::content_type, "application/json");
  res.body() = protocol::EncodeError(status);
  if (protocol::IsWorkerBusy(status)) {
    res.set(protocol::kRetryAfterHeader, protocol::kRetryAfterSeconds);
  }
  return res;
}

http::response<http::string_body> JsonAnswer(std::string body) {
  http::response<http::string_body> res{http::status::ok, 11};
  res.set(http::field::content_type, "application/json");
  res.body() = std::move(body);
  return res;
}

// The value of parameter `name`, "" when absent.
std::string Param(const protocol::RequestTarget& target, std::string_view name) {
  const auto it = target.params.find(name);
  return it == target.params.end() ? std::string() : it->second;
}

}  // namespace

struct FakeWorker::Impl {
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::unique_ptr<ssl::context> tls;  // set: every connection must speak TLS
};

FakeWorker::FakeWorker(const FakeWorkerTls& tls) : impl_(std::make_unique<Impl>()) {
  if (!tls.cert_file.empty()) {
    // Test set-up: a bad file throws, and the test fails there.
    impl_->tls = std::make_unique<ssl::context>(ssl::context::tls_server);
    impl_->tls->use_certificate_chain_file(tls.cert_file);
    impl_->tls->use_private_key_file(tls.key_file, ssl::context::pem);
  }
  acceptor_ = std::thread([this] {
    for (;;) {
      beast::error_code ec;
      tcp::socket socket(impl_->ioc);
      impl_->acceptor.accept(socket, ec);
      std::lock_guard lock(mu_);
      if (ec || stopping_) return;
      ++accepted;
      const int fd = socket.release();
      fds_.push_back(fd);
      workers_.emplace_back([this, fd] { Serve(fd); });
    }
  });
}

FakeWorker::~FakeWorker() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }
  stop_cv_.notify_all();
  // Wake a blocking accept() by shutting its socket down.
  ::shutdown(impl_->acceptor.native_handle(), SHUT_RDWR);
  acceptor_.join();
  for (auto& t : workers_) t.join();
}

std::string FakeWorker::address() const {
  return fmt::format("127.0.0.1:{}", impl_->acceptor.local_endpoint().port());
}

void FakeWorker::PutFile(const std::string& path, std::string data) {
  std::lock_guard lock(mu_);
  files_[path] = File{std::move(data), fmt::format("v{}", ++generation_)};
}

void FakeWorker::RequireToken(std::string token) {
  std::lock_guard lock(mu_);
  required_token_ = std::move(token);
}

std::vector<std::string> FakeWorker::Authorizations() {
  std::lock_guard lock(mu_);
  return authorizations_;
}

std::vector<std::uint64_t> FakeWorker::ReadOffsets() {
  std::lock_guard lock(mu_);
  return read_offsets_;
}

void FakeWorker::StallReads(bool on) {
  {
    std::lock_guard lock(mu_);
    stall_reads_ = on;
  }
  stop_cv_.notify_all();
}

void FakeWorker::StallStats(bool on) {
  {
    std::lock_guard lock(mu_);
    stall_stats_ = on;
  }
  stop_cv_.notify_all();
}

void FakeWorker::HoldReadsUntilConcurrent(int n) {
  {
    std::lock_guard lock(mu_);
    hold_reads_until_ = n;
  }
  stop_cv_.notify_all();
}

bool FakeWorker::AwaitGate(std::unique_lock<std::mutex>& lock, const std::function<bool()>& ready) {
  // Not a timing: only a bound on how long a broken client can hang the test.
  constexpr auto kSafetyNet = std::chrono::seconds(60);
  return stop_cv_.wait_for(lock, kSafetyNet, [&] { return stopping_ || ready(); });
}

void FakeWorker::NoteReadInFlight() {
  const int now = ++reads_in_flight;
  for (int seen = max_reads_in_flight; now > seen;) {
    if (max_reads_in_flight.compare_exchange_weak(seen, now)) break;
  }
  {
    std::lock_guard lock(mu_);  // so that a read waiting for this count cannot miss it
  }
  stop_cv_.notify_all();
}

void FakeWorker::Serve(int fd) {
  asio::io_context ioc;
  tcp::socket socket(ioc, tcp::v4(), fd);
  if (impl_->tls) {
    ssl::stream<tcp::socket&> stream(socket, *impl_->tls);
    beast::error_code ec;
    stream.handshake(ssl::stream_base::server, ec);
    if (ec) {
      ++tls_handshake_failures;
    } else {
      ServeRequests(stream);
    }
  } else {
    ServeRequests(socket);
  }
  beast::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  // Forget the fd before closing it, so that the destructor never shuts down a reused number.
  std::lock_guard lock(mu_);
  std::erase(fds_, fd);
  socket.close(ignored);
}

template <typename Stream>
void FakeWorker::ServeRequests(Stream& stream) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    beast::error_code ec;
    http::read(stream, buffer, req, ec);
    if (ec) break;
    // A target the protocol cannot parse is answered as the worker answers it.
    auto parsed = protocol::ParseTarget(req.target());
    const Status target_status = parsed.ok() ? Status::Ok() : parsed.status();
    const protocol::RequestTarget target =
        parsed.ok() ? std::move(parsed).value() : protocol::RequestTarget{};
    const std::string_view endpoint = target.path;
    const std::string path = Param(target, protocol::kPathParam);
    std::optional<File> file;
    bool authorized = true;
    {
      std::lock_guard lock(mu_);
      if (auto it = files_.find(path); it != files_.end()) file = it->second;
      const std::string presented(req[http::field::authorization]);
      authorizations_.push_back(presented);
      authorized = required_token_.empty() || endpoint == protocol::kHealthPath ||
                   presented == std::string(protocol::kBearerPrefix) + required_token_;
    }
    const Garble garbled = garble.load();
    http::response<http::string_body> res;
    bool half_body = false;
    if (!target_status.ok()) {
      res = ErrorAnswer(target_status);
    } else if (!authorized) {
      ++unauthorized;
      res = ErrorAnswer(Status::Unauthenticated("a valid bearer token is required"));
      res.set(protocol::kWwwAuthenticateHeader, protocol::kWwwAuthenticateValue);
    } else if (endpoint == protocol::kStatPath && garbled == Garble::kStatNotJson) {
      res.result(http::status::ok);
      res.body() = R"({"path": "/x", "type": "file", "size": 1)";
    } else if (endpoint == protocol::kStatPath && garbled == Garble::kStatWrongTypes) {
      res.result(http::status::ok);
      res.body() = R"({"path": 7, "type": "file", "size": "12", "mtime_ns": "x", "version": []})";
    } else if (endpoint == protocol::kListPath && garbled == Garble::kListWrongTypes) {
      res.result(http::status::ok);
      res.body() = R"({"path": "/d", "entries": {"a": 1}, "next_start_after": 5})";
    } else if (endpoint == protocol::kStatPath) {
      ++stats;
      {
        std::unique_lock lock(mu_);
        AwaitGate(lock, [this] { return !stall_stats_; });
      }
      if (!file) {
        res = ErrorAnswer(Status::NotFound(path + " does not exist"));
      } else {
        res = JsonAnswer(protocol::EncodeFileStatus(
            FileStatus{path, false, file->data.size(), kMtimeNs, file->version}));
      }
    } else if (endpoint == protocol::kListPath && lists_before_failing >= 0 &&
               lists >= lists_before_failing) {
      ++lists;
      res = ErrorAnswer(Status::Internal("injected failure listing " + path));
    } else if (endpoint == protocol::kListPath) {
      ++lists;
      // Pages as protocol.md item 3 says: sorted by path (files_ is a sorted map), entries
      // after start_after, next_start_after only when more follow.
      const std::string start_after =
          list_ignores_start_after ? std::string() : Param(target, protocol::kStartAfterParam);
      const auto page_size = static_cast<std::size_t>(std::max(0, list_page_size.load()));
      protocol::ListPage page{path, {}, std::nullopt};
      std::lock_guard lock(mu_);
      for (const auto& [p, f] : files_) {
        if (!p.starts_with(path + "/") || (!start_after.empty() && p <= start_after)) continue;
        if (page_size > 0 && page.entries.size() == page_size) {
          page.next_start_after =
              list_cursor_stuck && !start_after.empty() ? start_after : page.entries.back().path;
          break;
        }
        page.entries.push_back(FileStatus{p, false, f.data.size(), 0, f.version});
      }
      res = JsonAnswer(protocol::EncodeListPage(page));
    } else if (endpoint == protocol::kStatsPath) {
      res = JsonAnswer(R"({"requests": 1})");
    } else if (endpoint == protocol::kReadPath) {
      ++reads;
      NoteReadInFlight();
      {
        std::unique_lock lock(mu_);
        AwaitGate(lock, [this] {
          return !stall_reads_ && max_reads_in_flight.load() >= hold_reads_until_;
        });
      }
      --reads_in_flight;
      const std::string version = Param(target, protocol::kVersionParam);
      if (!file) {
        res = ErrorAnswer(Status::NotFound(path + " does not exist"));
      } else if (fail_reads_with_500 > 0) {
        --fail_reads_with_500;
        res = ErrorAnswer(Status::Internal("injected failure reading " + path));
      } else if (fail_reads_with_503 > 0) {
        --fail_reads_with_503;
        res = ErrorAnswer(protocol::WorkerBusy("injected"));
      } else if (!version.empty() && version != file->version) {
        ++conflicts;
        res = ErrorAnswer(Status::Changed(path + " changed"));
      } else {
        // Only "bytes=A-B" is needed by the client.
        std::string_view range = req[http::field::range];
        std::uint64_t a = 0;
        std::uint64_t b = 0;
        range.remove_prefix(6);
        const auto dash = range.find('-');
        std::from_chars(range.data(), range.data() + dash, a);
        std::from_chars(range.data() + dash + 1, range.data() + range.size(), b);
        {
          std::lock_guard lock(mu_);
          read_offsets_.push_back(a);
        }
        const std::uint64_t size = file->data.size();
        if (a >= size) {
          res.result(http::status::range_not_satisfiable);
          res.set(http::field::content_range, fmt::format("bytes */{}", size));
        } else {
          b = std::min(b, size - 1);
          res.result(http::status::partial_content);
          res.set(http::field::content_range, fmt::format("bytes {}-{}/{}", a, b, size));
          if (garbled == Garble::kContentRangeGarbage) {
            res.set(http::field::content_range, "bytes x-y/z");
          } else if (garbled == Garble::kContentRangeOverflow) {
            res.set(http::field::content_range,
                    fmt::format("bytes {}-{}/99999999999999999999999", a, b));
          }
          res.set(protocol::kVersionHeader, file->version);
          res.body() = file->data.substr(a, b - a + 1);
          if (close_mid_body > 0) {
            --close_mid_body;
            half_body = true;
          }
        }
      }
    } else {
      res = ErrorAnswer(Status::NotFound("no endpoint " + std::string(endpoint)));
    }
    res.version(11);
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    if (half_body) {
      // Announce the whole body, send half of it, hang up.
      http::response<http::string_body> partial = res;
      partial.body().resize(res.body().size() / 2);
      http::serializer<false, http::string_body> sr{partial};
      sr.split(true);
      http::write_header(stream, sr, ec);
      asio::write(stream, asio::buffer(partial.body()), ec);
      break;
    }
    http::write(stream, res, ec);
    if (ec || !req.keep_alive() || close_after_response) break;
  }
}

}  // namespace epochcache::testing
