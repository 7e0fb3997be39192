// Cache hits through the native client with no Python in the way: N std::threads each read
// random `--length` ranges of one cached file through one epochcache::Client for `--seconds`
// (and at most --max-ops reads per thread), then print one JSON line with the totals.
//
//   client_hits --worker 127.0.0.1:PORT --path /data/big.bin --size BYTES
//               [--length 65536] [--threads 16] [--seconds 5] [--max-ops 1000000]
//
// Set next to bench/http_peer.py's native_loop (the same reads from Python threads), it tells
// the client's own cost per request apart from the interpreter's.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "epochcache/client.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Totals {
  std::atomic<std::uint64_t> ops{0};
  std::atomic<std::uint64_t> errors{0};
};

int Main(int argc, char** argv) {
  CLI::App app{"native client cache-hit load generator"};
  std::string worker;
  std::string path;
  std::uint64_t size = 0;
  std::size_t length = std::size_t{64} * 1024;
  std::size_t threads = 16;
  double seconds = 5;
  std::uint64_t max_ops = 1000000;
  app.add_option("--worker", worker, "worker host:port")->required();
  app.add_option("--path", path, "cached file to read")->required();
  app.add_option("--size", size, "size of that file in bytes")->required();
  app.add_option("--length", length, "bytes per read");
  app.add_option("--threads", threads, "reading threads");
  app.add_option("--seconds", seconds, "how long to read");
  app.add_option("--max-ops", max_ops, "most reads per thread");
  CLI11_PARSE(app, argc, argv);
  if (size <= length || threads == 0) {
    fmt::print(stderr, "--size must exceed --length and --threads must be positive\n");
    return 2;
  }

  epochcache::ClientOptions options;
  options.worker_hosts = {worker};
  auto client = epochcache::Client::Create(options);
  if (!client.ok()) {
    fmt::print(stderr, "client: {}\n", client.status().message());
    return 1;
  }
  Totals totals;
  const auto stop = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(seconds));
  const auto t0 = Clock::now();
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      std::mt19937_64 rng(i);
      std::uniform_int_distribution<std::uint64_t> pick(0, size - length);
      std::vector<std::byte> buf(length);
      std::uint64_t n = 0;
      std::uint64_t bad = 0;
      while (n < max_ops && Clock::now() < stop) {
        auto r = (*client)->Read(path, pick(rng), buf);
        if (!r.ok() || *r != length) {
          if (bad++ == 0) {
            fmt::print(stderr, "read failed: {}\n", r.ok() ? "short read" : r.status().message());
          }
        }
        ++n;
      }
      totals.ops += n;
      totals.errors += bad;
    });
  }
  for (auto& t : pool) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  fmt::print(
      "{{\"threads\": {}, \"length\": {}, \"requests\": {}, \"errors\": {}, "
      "\"seconds\": {:.3f}, \"req_per_s\": {:.1f}}}\n",
      threads, length, totals.ops.load(), totals.errors.load(), elapsed,
      static_cast<double>(totals.ops.load()) / elapsed);
  return totals.errors.load() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Nothing here is meant to throw; what still does (out of memory) ends the run with its
  // message rather than abort().
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "client_hits: {}\n", e.what());
    return 1;
  }
}
