// The worker's bearer token (--auth-token-file), checked the same way by the HTTP server and
// the local read socket.
//
// Thread-safety: immutable after construction.
#pragma once

#include <array>
#include <string_view>

namespace epochcache::worker {

class BearerToken {
 public:
  // An empty `token`: none is required.
  explicit BearerToken(std::string_view token);

  [[nodiscard]] bool required() const { return required_; }

  // Whether `presented` is the token. Compared as SHA-256 digests in constant time, so that
  // neither the comparison time nor an early length check tells a caller anything about it.
  [[nodiscard]] bool Matches(std::string_view presented) const;

 private:
  using Digest = std::array<unsigned char, 32>;
  static Digest Sha256(std::string_view text);

  bool required_;
  Digest digest_;
};

}  // namespace epochcache::worker
