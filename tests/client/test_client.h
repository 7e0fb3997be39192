// What the client tests (and the contract test) share: options for a client of fake workers,
// and reads into a string.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "epochcache/client.h"

namespace epochcache::testing {

// Options for a client of `hosts` with small pieces (1000 bytes) and blocks (4000), so that a
// few KB of data span pieces, blocks and workers; `token` is the auth token, if any.
inline ClientOptions SmallPieceOptions(std::vector<std::string> hosts, std::string token = "") {
  using std::chrono::milliseconds;
  ClientOptions options;
  options.worker_hosts = std::move(hosts);
  options.piece_size = 1000;
  options.block_size = 4000;
  options.request_timeout = milliseconds(5000);
  options.connect_timeout = milliseconds(2000);
  options.auth_token = std::move(token);
  return options;
}

// Up to `length` bytes of `path` from `offset` (fewer at the end of the file), or the error.
inline Result<std::string> ReadString(Client& client, std::string_view path, std::uint64_t offset,
                                      std::size_t length) {
  std::string out(length, '\0');
  auto n = client.Read(path, offset, std::as_writable_bytes(std::span(out)));
  if (!n.ok()) return n.status();
  out.resize(*n);
  return out;
}

}  // namespace epochcache::testing
