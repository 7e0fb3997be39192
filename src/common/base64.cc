#include "common/base64.h"

#include <openssl/evp.h>

#include <vector>

namespace epochcache {

std::string Base64Encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): OpenSSL takes unsigned bytes
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    return Status::InvalidArgument("base64 text length is not a multiple of 4");
  }
  std::string out(3 * text.size() / 4, '\0');
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): OpenSSL takes unsigned bytes
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return Status::InvalidArgument("malformed base64 text");
  // EVP_DecodeBlock tolerates '=' in the middle and non-zero bits under the padding ("====",
  // "=L2E"): only text that is the canonical encoding of what it decodes to is accepted.
  // EVP_DecodeBlock counts padding as zero bytes; drop them.
  std::size_t len = static_cast<std::size_t>(n);
  if (text.ends_with("==")) {
    len -= 2;
  } else if (text.ends_with('=')) {
    len -= 1;
  }
  out.resize(len);
  if (Base64Encode(out) != text) return Status::InvalidArgument("malformed base64 text");
  return out;
}

}  // namespace epochcache
