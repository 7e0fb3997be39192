// A scripted stand-in for a worker, for client tests: serves /v1/stat, /v1/list and /v1/read
// from in-memory files over real loopback HTTP, and misbehaves on request.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace epochcache::testing {

// Malformed answers the fake worker can send, to check that the client fails cleanly.
enum class Garble : int {
  kNone,
  kStatNotJson,           // /v1/stat answers 200 with a body that is not JSON
  kStatWrongTypes,        // /v1/stat answers a JSON array, strings for numbers, ...
  kListWrongTypes,        // /v1/list answers "entries" as an object, a bad cursor
  kContentRangeGarbage,   // /v1/read answers 206 with "Content-Range: bytes x-y/z"
  kContentRangeOverflow,  // /v1/read answers 206 with numbers beyond 2^64
};

// PEM files of the certificate (chain) and key a TLS fake worker presents.
struct FakeWorkerTls {
  std::string cert_file;
  std::string key_file;
};

class FakeWorker {
 public:
  // Listens on 127.0.0.1, an ephemeral port; speaks TLS when `tls` names a certificate.
  explicit FakeWorker(const FakeWorkerTls& tls = {});
  ~FakeWorker();
  FakeWorker(const FakeWorker&) = delete;
  FakeWorker& operator=(const FakeWorker&) = delete;

  std::string address() const;  // "127.0.0.1:PORT"

  // Adds or replaces a file; its version becomes "v<generation>".
  void PutFile(const std::string& path, std::string data);

  // From now on every request but /v1/health needs "Authorization: Bearer <token>"; others get
  // 401 as a worker started with --auth-token-file answers.
  void RequireToken(std::string token);
  // The Authorization header of every request received, in arrival order ("" when absent).
  std::vector<std::string> Authorizations();

  // Gates, for stalls and overlaps without sleeping (each takes effect on the next request).
  // A stalled read or stat waits until the stall is lifted or the worker stops.
  void StallReads(bool on);
  void StallStats(bool on);
  // Reads wait until `n` reads have been in flight at once (0: no wait). Guarded by a long
  // safety net, so that a client that never gets there fails the test instead of hanging it.
  void HoldReadsUntilConcurrent(int n);

  // Misbehaviour knobs (all take effect on the next request).
  std::atomic<int> fail_reads_with_500{0};        // answer this many reads with 500 internal
  std::atomic<int> close_mid_body{0};             // this many reads send half the body then close
  std::atomic<bool> close_after_response{false};  // keep-alive announced, then closed anyway
  std::atomic<int> fail_reads_with_503{0};        // answer this many reads 503 + Retry-After
  std::atomic<int> list_page_size{0};             // > 0: /v1/list answers pages this long
  std::atomic<bool> list_cursor_stuck{false};     // every page repeats the first cursor
  std::atomic<int> lists_before_failing{-1};      // >= 0: lists after this many answer 500
  std::atomic<bool> list_ignores_start_after{false};  // lists as workers did before paging
  std::atomic<Garble> garble{Garble::kNone};

  // Counters.
  std::atomic<int> accepted{0};
  std::atomic<int> reads{0};
  std::atomic<int> stats{0};
  std::atomic<int> conflicts{0};  // 409 answers sent
  std::atomic<int> lists{0};
  std::atomic<int> unauthorized{0};  // 401 answers sent
  std::atomic<int> tls_handshake_failures{0};
  std::atomic<int> reads_in_flight{0};
  std::atomic<int> max_reads_in_flight{0};

  // The first byte offset of every read request received, in arrival order.
  std::vector<std::uint64_t> ReadOffsets();

 private:
  struct File {
    std::string data;
    std::string version;
  };
  struct Impl;

  void Serve(int fd);
  template <typename Stream>
  void ServeRequests(Stream& stream);
  // Waits (mu_ held) until `ready` or the worker stops; false after the safety net.
  bool AwaitGate(std::unique_lock<std::mutex>& lock, const std::function<bool()>& ready);
  void NoteReadInFlight();

  std::unique_ptr<Impl> impl_;
  std::mutex mu_;
  std::condition_variable stop_cv_;  // also signals gate changes
  bool stopping_ = false;
  bool stall_reads_ = false;  // GUARDED_BY(mu_)
  bool stall_stats_ = false;  // GUARDED_BY(mu_)
  int hold_reads_until_ = 0;  // GUARDED_BY(mu_)
  std::map<std::string, File> files_;
  std::vector<std::uint64_t> read_offsets_;
  std::string required_token_;
  std::vector<std::string> authorizations_;
  int generation_ = 0;
  std::thread acceptor_;
  std::vector<std::thread> workers_;
  std::vector<int> fds_;
};

}  // namespace epochcache::testing
