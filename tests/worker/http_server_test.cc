#include "worker/http_server.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/eventually.h"
#include "support/test_page_store.h"
#include "temp_dir.h"
#include "understore/memory_under_store.h"

namespace epochcache::worker {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using nlohmann::json;
using testing::PatternBytes;
using testing::TempDir;

constexpr std::uint64_t kPageSize = 4096;

struct Response {
  unsigned status = 0;
  std::map<std::string, std::string> headers;
  std::string body;

  [[nodiscard]] std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  [[nodiscard]] json Json() const { return json::parse(body); }
};

// A keep-alive HTTP/1.1 connection to the server under test.
class Connection {
 public:
  explicit Connection(std::uint16_t port) : stream_(io_) {
    stream_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  Response Get(const std::string& target, const std::map<std::string, std::string>& headers = {},
               http::verb method = http::verb::get) {
    http::request<http::empty_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (const auto& [name, value] : headers) req.set(name, value);
    stream_.expires_after(std::chrono::seconds(30));
    http::write(stream_, req);
    http::response_parser<http::string_body> parser;
    parser.body_limit(boost::none);
    http::read(stream_, buffer_, parser);
    const auto& res = parser.get();
    Response out;
    out.status = res.result_int();
    for (const auto& field : res) {
      out.headers[std::string(field.name_string())] = std::string(field.value());
    }
    out.body = res.body();
    return out;
  }

 private:
  asio::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

// Sends raw bytes, half-closes, and returns whatever the server answers before closing.
std::string RawExchange(std::uint16_t port, const std::string& payload) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  boost::system::error_code ec;
  asio::write(socket, asio::buffer(payload), ec);
  socket.shutdown(tcp::socket::shutdown_send, ec);
  std::string answer;
  std::array<char, 4096> chunk{};
  for (;;) {
    const std::size_t n = socket.read_some(asio::buffer(chunk), ec);
    if (ec) break;
    answer.append(chunk.data(), n);
  }
  return answer;
}

unsigned StatusOf(const std::string& raw_answer) {
  if (raw_answer.size() < 12) return 0;
  return static_cast<unsigned>(std::stoi(raw_answer.substr(9, 3)));
}

std::string Encode(const std::string& path) {
  std::string out;
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.') {
      out.push_back(static_cast<char>(c));
    } else {
      constexpr std::string_view kHex = "0123456789ABCDEF";
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = root_.str() + "/data";
    std::filesystem::create_directories(data_ + "/sub");
    WriteFile("/hello.txt", "hello, epochcache\n");
    WriteFile("/sub/big.bin", PatternBytes(10 * kPageSize + 321, 11));
    WriteFile("/sub/pages.bin", PatternBytes(3 * kPageSize, 12));
    WriteFile("/empty", "");
    WriteFile("/name with space", "spaced");
    std::ofstream(root_.str() + "/secret.txt") << "outside the root";

    auto under = OpenUnderStore("file://" + data_);
    ASSERT_TRUE(under.ok()) << under.status().ToString();
    under_ = std::move(under).value();
    pages_ = testing_support::OpenTestStore({{root_.str() + "/cache", 64 << 20}}, kPageSize);
    ASSERT_NE(pages_, nullptr);
    service_ = std::make_unique<ReadService>(*under_, *pages_);
    StartServer(DefaultOptions());
  }

  static HttpServerOptions DefaultOptions() {
    HttpServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.io_threads = 2;
    options.handler_threads = 4;
    options.idle_timeout = std::chrono::milliseconds(500);
    options.read_window_bytes = 3 * kPageSize;  // several windows per large read
    return options;
  }

  // (Re)starts the server under test with `options`.
  void StartServer(const HttpServerOptions& options) {
    server_.reset();
    auto server = HttpServer::Start(*service_, options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    ASSERT_NE(server_->port(), 0);
  }

  void WriteFile(const std::string& rel, const std::string& contents) {
    std::ofstream(data_ + rel, std::ios::binary) << contents;
    files_[rel] = contents;
  }

  std::string ReadTarget(const std::string& rel) { return "/v1/read?path=" + Encode(data_ + rel); }

  Response Get(const std::string& target, const std::map<std::string, std::string>& headers = {}) {
    Connection conn(server_->port());
    return conn.Get(target, headers);
  }

  json Stats() { return Get("/v1/stats").Json(); }

  TempDir root_;
  std::string data_;
  std::map<std::string, std::string> files_;
  std::unique_ptr<UnderStore> under_;
  std::unique_ptr<PageStore> pages_;
  std::unique_ptr<ReadService> service_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, HealthAndStats) {
  auto health = Get("/v1/health");
  EXPECT_EQ(health.status, 200U);
  EXPECT_EQ(health.header("Content-Type"), "application/json");
  EXPECT_EQ(health.Json()["status"], "ok");
  auto stats = Stats();
  for (const char* key : {"under_store_bytes", "under_store_reads", "requests", "bytes_served"}) {
    EXPECT_TRUE(stats[key].is_number_unsigned()) << key;
  }
  ASSERT_TRUE(stats["page_store"]["dirs"].is_array());
  EXPECT_EQ(stats["page_store"]["dirs"].size(), 1U);
  EXPECT_GE(stats["requests"].get<int>(), 2);
}

TEST_F(HttpServerTest, StatAndList) {
  auto stat = Get("/v1/stat?path=" + Encode(data_ + "/hello.txt"));
  ASSERT_EQ(stat.status, 200U) << stat.body;
  auto body = stat.Json();
  EXPECT_EQ(body["type"], "file");
  EXPECT_EQ(body["size"], files_["/hello.txt"].size());
  EXPECT_FALSE(body["version"].get<std::string>().empty());
  EXPECT_TRUE(body.contains("mtime_ns"));
  EXPECT_TRUE(body.contains("path"));
  EXPECT_EQ(Get("/v1/stat?path=" + Encode(data_ + "/sub")).Json()["type"], "directory");
  EXPECT_EQ(Get("/v1/stat?path=" + Encode(data_ + "/name with space")).Json()["size"], 6);

  auto missing = Get("/v1/stat?path=" + Encode(data_ + "/nope"));
  EXPECT_EQ(missing.status, 404U);
  EXPECT_EQ(missing.Json()["error"], "not_found");
  EXPECT_EQ(Get("/v1/stat").status, 400U);
  EXPECT_EQ(Get("/v1/stat").Json()["error"], "invalid_argument");

  auto list = Get("/v1/list?path=" + Encode(data_));
  ASSERT_EQ(list.status, 200U) << list.body;
  auto entries = list.Json()["entries"];
  ASSERT_EQ(entries.size(), 4U);  // three files and sub/
  for (std::size_t i = 1; i < entries.size(); ++i) {
    EXPECT_LT(entries[i - 1]["path"].get<std::string>(), entries[i]["path"].get<std::string>());
  }
  auto deep = Get("/v1/list?path=" + Encode(data_) + "&recursive=1").Json()["entries"];
  EXPECT_EQ(deep.size(), 5U);  // three files at the top, two below sub/, no directories
  for (const auto& entry : deep) EXPECT_EQ(entry["type"], "file");
  EXPECT_EQ(Get("/v1/list?path=" + Encode(data_) + "&recursive=maybe").status, 400U);
  EXPECT_EQ(Get("/v1/list?path=" + Encode(data_ + "/nope")).status, 404U);
}

TEST_F(HttpServerTest, ReadWholeFileMissThenHit) {
  const std::string& big = files_["/sub/big.bin"];
  // One keep-alive connection: the server reads the next request (the stats) only after the
  // previous response is fully sent and counted, so the counters can be asserted exactly.
  Connection conn(server_->port());
  const auto stats_now = [&] { return conn.Get("/v1/stats").Json(); };
  auto cold = conn.Get(ReadTarget("/sub/big.bin"));
  ASSERT_EQ(cold.status, 200U) << cold.body;
  EXPECT_EQ(cold.body, big);
  EXPECT_EQ(cold.header("X-Epochcache-Size"), std::to_string(big.size()));
  EXPECT_FALSE(cold.header("X-Epochcache-Version").empty());
  EXPECT_EQ(cold.header("Content-Type"), "application/octet-stream");
  const auto under_bytes = stats_now()["under_store_bytes"].get<std::uint64_t>();
  EXPECT_EQ(under_bytes, big.size());

  auto warm = conn.Get(ReadTarget("/sub/big.bin"));  // every page by sendfile
  EXPECT_EQ(warm.status, 200U);
  EXPECT_EQ(warm.body, big);
  auto stats = stats_now();
  EXPECT_EQ(stats["under_store_bytes"].get<std::uint64_t>(), under_bytes);
  EXPECT_EQ(stats["page_hits"].get<std::uint64_t>(), 11U);
  EXPECT_EQ(stats["bytes_served"].get<std::uint64_t>(), 2 * big.size());
}

TEST_F(HttpServerTest, RangeVariants) {
  const std::string& big = files_["/sub/big.bin"];
  const std::string size = std::to_string(big.size());
  // Twice each: cold (memory segments), then warm (sendfile segments).
  for (int pass = 0; pass < 2; ++pass) {
    auto r = Get(ReadTarget("/sub/big.bin"), {{"Range", "bytes=100-9000"}});
    EXPECT_EQ(r.status, 206U);
    EXPECT_EQ(r.body, big.substr(100, 8901));
    EXPECT_EQ(r.header("Content-Range"), "bytes 100-9000/" + size);

    // Spanning windows and ending in the last, short page.
    r = Get(ReadTarget("/sub/big.bin"), {{"Range", "bytes=4000-"}});
    EXPECT_EQ(r.status, 206U);
    EXPECT_EQ(r.body, big.substr(4000));
    EXPECT_EQ(r.header("Content-Range"),
              "bytes 4000-" + std::to_string(big.size() - 1) + "/" + size);

    r = Get(ReadTarget("/sub/big.bin"), {{"Range", "bytes=-500"}});
    EXPECT_EQ(r.status, 206U);
    EXPECT_EQ(r.body, big.substr(big.size() - 500));

    r = Get(ReadTarget("/sub/big.bin"), {{"Range", "bytes=40960-99999999"}});  // END clipped
    EXPECT_EQ(r.status, 206U);
    EXPECT_EQ(r.body, big.substr(40960));

    r = Get(ReadTarget("/sub/pages.bin"), {{"Range", "bytes=4096-8191"}});  // exactly one page
    EXPECT_EQ(r.body, files_["/sub/pages.bin"].substr(4096, 4096));
  }
  auto past = Get(ReadTarget("/sub/big.bin"), {{"Range", "bytes=" + size + "-"}});
  EXPECT_EQ(past.status, 416U);
  EXPECT_EQ(past.header("Content-Range"), "bytes */" + size);
  EXPECT_EQ(Get(ReadTarget("/empty"), {{"Range", "bytes=0-"}}).status, 416U);

  auto bad = Get(ReadTarget("/sub/big.bin"), {{"Range", "bytes=9-2"}});
  EXPECT_EQ(bad.status, 400U);
  EXPECT_EQ(bad.Json()["error"], "invalid_argument");
  EXPECT_NE(bad.Json()["message"].get<std::string>().find("Range"), std::string::npos);
  EXPECT_EQ(Get(ReadTarget("/sub/big.bin"), {{"Range", "bytes=0-1,5-6"}}).status, 400U);

  auto empty = Get(ReadTarget("/empty"));
  EXPECT_EQ(empty.status, 200U);
  EXPECT_EQ(empty.body, "");
  EXPECT_EQ(empty.header("X-Epochcache-Size"), "0");
}

TEST_F(HttpServerTest, ReadErrors) {
  EXPECT_EQ(Get(ReadTarget("/nope")).status, 404U);
  EXPECT_EQ(Get(ReadTarget("/sub")).status, 400U);
  EXPECT_EQ(Get("/v1/read").status, 400U);
  EXPECT_EQ(Get("/v1/read?path=%zz").status, 400U);
  auto escape = Get("/v1/read?path=" + Encode(data_ + "/../secret.txt"));
  EXPECT_EQ(escape.status, 403U);
  EXPECT_EQ(escape.Json()["error"], "permission_denied");
  EXPECT_EQ(Get("/v1/read?path=/etc/passwd").status, 403U);

  auto v = Get(ReadTarget("/hello.txt")).header("X-Epochcache-Version");
  EXPECT_EQ(Get(ReadTarget("/hello.txt") + "&version=" + Encode(v)).status, 200U);
  auto changed = Get(ReadTarget("/hello.txt") + "&version=other");
  EXPECT_EQ(changed.status, 409U);
  EXPECT_EQ(changed.Json()["error"], "changed");

  auto unknown = Get("/v2/whatever");
  EXPECT_EQ(unknown.status, 404U);
  EXPECT_EQ(unknown.Json()["error"], "not_found");
  Connection conn(server_->port());
  auto post = conn.Get("/v1/stats", {}, http::verb::post);
  EXPECT_EQ(post.status, 405U);
  EXPECT_EQ(post.header("Allow"), "GET");
}

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  Connection conn(server_->port());
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(conn.Get("/v1/health").status, 200U);
    auto r = conn.Get(ReadTarget("/sub/big.bin"), {{"Range", "bytes=5000-20000"}});
    EXPECT_EQ(r.status, 206U);
    EXPECT_EQ(r.body, files_["/sub/big.bin"].substr(5000, 15001));
    EXPECT_EQ(conn.Get(ReadTarget("/nope")).status, 404U);  // errors keep the connection
    EXPECT_EQ(conn.Get(ReadTarget("/hello.txt")).body, files_["/hello.txt"]);
  }
}

TEST_F(HttpServerTest, MalformedRequestsAreAnsweredAndTheServerKeepsServing) {
  const std::string normal = "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
  struct Case {
    std::string payload;
    unsigned expected;
  };
  const std::vector<Case> cases = {
      {std::string("\x00\xff garbage \r\n\r\n", 15), 400},
      {"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(std::size_t{16} * 1024, 'a') +
           "\r\n\r\n",
       431},
      {"GET /v1/read?path=/x HTTP/1.1\r\nHost: x\r\nRange: bytes=zz-1\r\n\r\n", 400},
      {"POST /v1/stats HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 400},
      {"GET /v1/health HTTP/9.9\r\n\r\n", 400},
      {"GET /v1/health HTTP/1.1\r\nContent-Length: nope\r\n\r\n", 400},
  };
  for (const auto& c : cases) {
    const std::string answer = RawExchange(server_->port(), c.payload);
    EXPECT_EQ(StatusOf(answer), c.expected) << answer.substr(0, 200);
    EXPECT_EQ(Get("/v1/health").status, 200U);
    EXPECT_EQ(Get(ReadTarget("/hello.txt")).body, files_["/hello.txt"]);
  }
  // A connection that dies mid-request or mid-response harms nothing.
  RawExchange(server_->port(), "GET /v1/hea");
  {
    asio::io_context io;
    tcp::socket socket(io);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    const std::string req = "GET " + ReadTarget("/sub/big.bin") + " HTTP/1.1\r\nHost: x\r\n\r\n";
    asio::write(socket, asio::buffer(req));
  }  // closed without reading the body
  EXPECT_EQ(Get(ReadTarget("/sub/big.bin")).body, files_["/sub/big.bin"]);
  EXPECT_EQ(RawExchange(server_->port(), normal).substr(0, 15), "HTTP/1.1 200 OK");
}

TEST_F(HttpServerTest, IdleConnectionsAreClosed) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  std::array<char, 16> buf{};
  boost::system::error_code ec;
  const auto start = std::chrono::steady_clock::now();
  socket.read_some(asio::buffer(buf), ec);  // blocks until the server hangs up
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

// The idle and response timeouts share one timer that is not re-armed per request: a
// connection in use for longer than the idle timeout stays open, and is closed once it idles.
TEST_F(HttpServerTest, ABusyConnectionOutlivesTheIdleTimeoutAndIsClosedWhenIdle) {
  Connection conn(server_->port());
  const auto start = std::chrono::steady_clock::now();
  int requests = 0;
  // Three idle timeouts (500 ms) of requests 100 ms apart: pacing, the server's timer is real.
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1500)) {
    ASSERT_EQ(conn.Get(ReadTarget("/hello.txt")).body, files_["/hello.txt"]);
    ++requests;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_GE(requests, 3);
  std::this_thread::sleep_for(std::chrono::seconds(3));  // six idle timeouts
  EXPECT_ANY_THROW(conn.Get("/v1/health"));              // the server has hung up
}

TEST_F(HttpServerTest, ConcurrentClientsGetTheRightBytes) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  const std::string& big = files_["/sub/big.bin"];
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Connection conn(server_->port());
      for (int i = 0; i < 10; ++i) {
        const std::uint64_t start =
            (static_cast<std::uint64_t>(t) * 997 + static_cast<std::uint64_t>(i) * 4099) %
            big.size();
        auto r = conn.Get(
            ReadTarget("/sub/big.bin"),
            {{"Range", "bytes=" + std::to_string(start) + "-" + std::to_string(start + 9000)}});
        if (r.body != big.substr(start, 9001)) failures.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Stats()["under_store_bytes"].get<std::uint64_t>(), big.size());
}

TEST_F(HttpServerTest, StopIsIdempotentAndClosesConnections) {
  Connection conn(server_->port());
  EXPECT_EQ(conn.Get("/v1/health").status, 200U);
  server_->Stop();
  server_->Stop();
  EXPECT_THROW(conn.Get("/v1/health"), boost::system::system_error);
}

TEST_F(HttpServerTest, TokenRequiredEverywhereButHealth) {
  const std::string token = "s3cr3t-token-value";
  HttpServerOptions options = DefaultOptions();
  options.auth_token = token;
  StartServer(options);
  const std::string read = ReadTarget("/hello.txt");

  auto missing = Get(read);
  EXPECT_EQ(missing.status, 401U);
  EXPECT_EQ(missing.header("WWW-Authenticate"), R"(Bearer realm="epochcache")");
  EXPECT_EQ(missing.Json()["error"], "unauthenticated");
  for (const std::string& wrong :
       {std::string("Bearer s3cr3t-token-valuX"), std::string("Bearer s3cr3t"),
        "Bearer " + token + "x", std::string("Basic czNjcjN0"), "Bearer  " + token, token}) {
    auto r = Get(read, {{"Authorization", wrong}});
    EXPECT_EQ(r.status, 401U) << wrong;
    EXPECT_EQ(r.Json()["error"], "unauthenticated");
    EXPECT_EQ(r.body.find("s3cr3t"), std::string::npos) << r.body;  // never echoed
  }
  for (const std::string& target :
       {std::string("/v1/stats"), "/v1/stat?path=" + Encode(data_ + "/hello.txt"),
        "/v1/list?path=" + Encode(data_), std::string("/v2/nothing")}) {
    EXPECT_EQ(Get(target).status, 401U) << target;
  }
  Connection conn(server_->port());
  EXPECT_EQ(conn.Get("/v1/stats", {}, http::verb::post).status, 401U);

  // Health stays open; with the token everything answers as before, on one connection.
  EXPECT_EQ(Get("/v1/health").status, 200U);
  const std::map<std::string, std::string> auth = {{"Authorization", "Bearer " + token}};
  auto ok = conn.Get(read, auth);
  EXPECT_EQ(ok.status, 200U);
  EXPECT_EQ(ok.body, files_["/hello.txt"]);
  EXPECT_EQ(conn.Get(read, {{"Authorization", "bearer " + token}}).status, 200U);
  EXPECT_EQ(conn.Get("/v1/stats", auth).status, 200U);
  EXPECT_EQ(conn.Get(read).status, 401U);  // each request is checked
  EXPECT_EQ(conn.Get("/v1/list?path=" + Encode(data_), auth).status, 200U);
}

TEST(ListenPolicy, NonLoopbackNeedsATokenOrInsecure) {
  for (const char* host : {"0.0.0.0", "::"}) {
    const Status refused = CheckListenPolicy(host, /*has_token=*/false, /*insecure=*/false);
    ASSERT_FALSE(refused.ok()) << host;
    EXPECT_NE(refused.message().find("--auth-token-file"), std::string::npos);
    EXPECT_NE(refused.message().find("--insecure"), std::string::npos);
    EXPECT_TRUE(CheckListenPolicy(host, true, false).ok());
    EXPECT_TRUE(CheckListenPolicy(host, false, true).ok());
  }
  EXPECT_TRUE(CheckListenPolicy("127.0.0.1", false, false).ok());
  EXPECT_TRUE(CheckListenPolicy("::1", false, false).ok());
  EXPECT_EQ(HttpServerOptions{}.host, "127.0.0.1");
}

TEST_F(HttpServerTest, StartRefusesAnOpenNonLoopbackListener) {
  HttpServerOptions options = DefaultOptions();
  options.host = "0.0.0.0";
  auto refused = HttpServer::Start(*service_, options);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--auth-token-file"), std::string::npos);
}

TEST_F(HttpServerTest, ConnectionsPastTheCapAreAnswered503) {
  HttpServerOptions options = DefaultOptions();
  options.max_connections = 2;
  options.idle_timeout = std::chrono::milliseconds(30000);
  StartServer(options);
  auto first = std::make_unique<Connection>(server_->port());
  Connection second(server_->port());
  EXPECT_EQ(first->Get("/v1/health").status, 200U);
  EXPECT_EQ(second.Get("/v1/health").status, 200U);

  const std::string request = "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string answer = RawExchange(server_->port(), request);
  EXPECT_EQ(StatusOf(answer), 503U) << answer;
  EXPECT_NE(answer.find("Retry-After: 1\r\n"), std::string::npos) << answer;
  EXPECT_NE(answer.find(R"("error":"unavailable")"), std::string::npos) << answer;
  EXPECT_NE(answer.find("worker busy"), std::string::npos) << answer;
  EXPECT_EQ(second.Get("/v1/health").status, 200U);  // the admitted ones are unaffected

  // A slot frees when a connection closes (once the server has noticed).
  first.reset();
  unsigned status = 0;
  EXPECT_TRUE(epochcache::testing::EventuallyTrue([&] {
    status = StatusOf(RawExchange(server_->port(), request));
    return status == 200;
  })) << "still answered "
      << status;
}

TEST_F(HttpServerTest, ResponseDeadlineIsTotalNotPerWrite) {
  HttpServerOptions options = DefaultOptions();
  options.response_timeout = std::chrono::milliseconds(1000);
  options.read_window_bytes = 1 << 20;
  StartServer(options);
  const std::string big = PatternBytes(std::size_t{24} << 20, 21);
  WriteFile("/huge.bin", big);

  asio::io_context io;
  tcp::socket socket(io);
  socket.open(tcp::v4());
  socket.set_option(asio::socket_base::receive_buffer_size(16 * 1024));
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  const std::string request = "GET " + ReadTarget("/huge.bin") + " HTTP/1.1\r\nHost: x\r\n\r\n";
  asio::write(socket, asio::buffer(request));
  // A reader that keeps making progress, slowly: a per-write timeout never fires for it.
  std::size_t received = 0;
  std::array<char, std::size_t{16} * 1024> chunk{};
  boost::system::error_code ec;
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(30)) {
    received += socket.read_some(asio::buffer(chunk), ec);
    if (ec) break;
    // Pacing, not synchronisation: this models a client slower than the server's deadline,
    // which runs on the server's real-time timers.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  EXPECT_LT(received, big.size());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  EXPECT_EQ(Get("/v1/health").status, 200U);
  // A reader that keeps up gets the whole file within the same deadline.
  EXPECT_EQ(Get(ReadTarget("/hello.txt")).body, files_["/hello.txt"]);
}

// An under store whose Stat blocks until opened, counting the callers it holds.
class GatedUnderStore final : public UnderStore {
 public:
  explicit GatedUnderStore(UnderStore& inner) : inner_(inner) {}
  [[nodiscard]] std::string_view Scheme() const override { return inner_.Scheme(); }
  Result<FileStatus> Stat(std::string_view path) override {
    std::unique_lock lock(mu_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    --waiting_;
    lock.unlock();
    return inner_.Stat(path);
  }
  Result<std::vector<FileStatus>> List(std::string_view path, bool recursive) override {
    return inner_.List(path, recursive);
  }
  Result<std::size_t> ReadRange(std::string_view path, std::string_view version,
                                std::uint64_t offset, std::span<std::byte> out) override {
    return inner_.ReadRange(path, version, offset, out);
  }
  bool WaitForWaiters(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return waiting_ >= n; });
  }
  void Open() {
    const std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  UnderStore& inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  int waiting_ = 0;
  bool open_ = false;
};

TEST(HttpServerQueue, FullMissQueueIsAnswered503) {
  MemoryUnderStore memory;
  for (const char* name : {"/a", "/b", "/c"}) memory.Put(name, std::string("contents of ") + name);
  GatedUnderStore gated(memory);
  TempDir dir;
  auto pages = testing_support::OpenTestStore({{dir.str() + "/cache", 8 << 20}}, kPageSize);
  ASSERT_NE(pages, nullptr);
  ReadService service(gated, *pages);
  HttpServerOptions options;
  options.io_threads = 1;
  options.handler_threads = 1;
  options.max_queued_requests = 1;
  auto server = HttpServer::Start(service, options);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::uint16_t port = (*server)->port();

  std::future<Response> a =
      std::async(std::launch::async, [&] { return Connection(port).Get("/v1/read?path=/a"); });
  ASSERT_TRUE(gated.WaitForWaiters(1));  // the only miss thread is busy
  std::future<Response> b =
      std::async(std::launch::async, [&] { return Connection(port).Get("/v1/read?path=/b"); });
  std::future<Response> c =
      std::async(std::launch::async, [&] { return Connection(port).Get("/v1/read?path=/c"); });
  // One of b and c waits in the queue, the other is refused at once.
  std::vector<Response> refused;
  for (auto* f : {&b, &c}) {
    if (f->wait_for(std::chrono::seconds(3)) == std::future_status::ready) {
      refused.push_back(f->get());
    }
  }
  ASSERT_EQ(refused.size(), 1U);
  EXPECT_EQ(refused[0].status, 503U);
  EXPECT_EQ(refused[0].header("Retry-After"), "1");
  EXPECT_EQ(refused[0].Json()["error"], "unavailable");
  EXPECT_EQ(Connection(port).Get("/v1/health").status, 200U);  // answered meanwhile

  gated.Open();
  EXPECT_EQ(a.get().body, "contents of /a");
  for (auto* f : {&b, &c}) {
    if (f->valid()) {
      EXPECT_EQ(f->get().status, 200U);
    }
  }
}

}  // namespace
}  // namespace epochcache::worker
