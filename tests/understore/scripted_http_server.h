// A tiny HTTP server on 127.0.0.1 for tests: answers each request with the next scripted
// response, or with what a handler makes of the request (and closes the connection), and
// records the requests it got.
#pragma once

#include <atomic>
#include <boost/asio.hpp>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace epochcache::testing {

class ScriptedHttpServer {
 public:
  // Each response is sent verbatim; "" means: close the connection without answering.
  explicit ScriptedHttpServer(std::vector<std::string> responses)
      : responses_(std::move(responses)),
        acceptor_(io_,
                  boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { Run(); });
  }
  // Answers each request (its head: request line and headers) with handler(request).
  using Handler = std::function<std::string(const std::string& request)>;
  explicit ScriptedHttpServer(Handler handler)
      : handler_(std::move(handler)),
        acceptor_(io_,
                  boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { Run(); });
  }
  ScriptedHttpServer(const ScriptedHttpServer&) = delete;
  ScriptedHttpServer& operator=(const ScriptedHttpServer&) = delete;
  ~ScriptedHttpServer() {
    stop_ = true;
    boost::system::error_code ec;
    // Wake the accept with a connection of our own.
    boost::asio::ip::tcp::socket poke(io_);
    poke.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }

  [[nodiscard]] std::string endpoint() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  [[nodiscard]] std::vector<std::string> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

  static std::string Response(int status, const std::string& body,
                              const std::string& extra_headers = "") {
    return "HTTP/1.1 " + std::to_string(status) +
           " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n" +
           extra_headers + "\r\n" + body;
  }

 private:
  void Run() {
    std::size_t next = 0;
    while (!stop_) {
      boost::asio::ip::tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stop_) break;
      std::string request;
      boost::asio::read_until(socket, boost::asio::dynamic_buffer(request), "\r\n\r\n", ec);
      {
        std::lock_guard lock(mu_);
        requests_.push_back(request);
      }
      const std::string answer = handler_                   ? handler_(request)
                                 : next < responses_.size() ? responses_[next]
                                                            : responses_.back();
      ++next;
      if (!answer.empty()) boost::asio::write(socket, boost::asio::buffer(answer), ec);
      socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    }
  }

  std::vector<std::string> responses_;
  Handler handler_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

}  // namespace epochcache::testing
