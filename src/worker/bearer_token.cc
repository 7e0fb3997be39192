#include "worker/bearer_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace epochcache::worker {

BearerToken::BearerToken(std::string_view token)
    : required_(!token.empty()), digest_(Sha256(token)) {}

bool BearerToken::Matches(std::string_view presented) const {
  const Digest digest = Sha256(presented);
  return CRYPTO_memcmp(digest.data(), digest_.data(), digest.size()) == 0;
}

BearerToken::Digest BearerToken::Sha256(std::string_view text) {
  Digest out{};
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), out.data(), &length, EVP_sha256(), nullptr);
  return out;
}

}  // namespace epochcache::worker
