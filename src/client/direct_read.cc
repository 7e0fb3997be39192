#include "client/direct_read.h"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <span>
#include <utility>

namespace epochcache::client {
namespace {

// The caller's bytes [a, b) of the file, given the pieces of the read starting at `offset`.
std::span<std::byte> SinkFor(std::uint64_t offset, std::uint64_t a, std::uint64_t b,
                             const std::vector<Piece>& pieces) {
  // Every piece's sink is a subspan of one buffer that starts at file offset `offset`.
  const Piece& first = pieces.front();
  std::byte* base = first.sink.data() - (first.a - offset);
  return {base + (a - offset), static_cast<std::size_t>(b - a)};
}

}  // namespace

Status ReadDirect(UnderStore& store, TaskPool& pool, std::string_view path,
                  const std::string& version, std::uint64_t block_size, std::uint64_t offset,
                  std::vector<Piece> pieces, std::atomic<std::uint64_t>& bytes_read) {
  if (pieces.empty()) return Status::Ok();
  std::sort(pieces.begin(), pieces.end(), [](const Piece& x, const Piece& y) { return x.a < y.a; });
  std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;
  for (const auto& p : pieces) {
    if (!runs.empty() && runs.back().second == p.a &&
        p.a / block_size == runs.back().first / block_size) {
      runs.back().second = p.b;
    } else {
      runs.emplace_back(p.a, p.b);
    }
  }
  std::mutex mu;
  Status first_error;  // GUARDED_BY(mu)
  pool.RunAll(runs.size(), [&](std::size_t i) {
    const auto [a, b] = runs[i];
    auto got = store.ReadRange(path, version, a, SinkFor(offset, a, b, pieces));
    Status s = got.status();
    if (got.ok()) {
      bytes_read.fetch_add(*got, std::memory_order_relaxed);
      if (*got != b - a) {
        s = Status::Changed(fmt::format("{}: the file is shorter than when it was stat'ed", path));
      }
    }
    if (!s.ok()) {
      std::lock_guard lock(mu);
      if (first_error.ok()) first_error = s.WithContext("reading the under store directly");
    }
  });
  return first_error;
}

}  // namespace epochcache::client
