// Reads through a client into a string, for the client and contract tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "epochcache/client.h"

namespace epochcache::testing {

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
