#include "common/http_date.h"

#include <curl/curl.h>

#include <limits>
#include <string>

namespace epochcache {

std::int64_t HttpDateNs(std::string_view text) {
  const std::string nul_terminated(text);
  const time_t seconds = curl_getdate(nul_terminated.c_str(), nullptr);
  constexpr std::int64_t kNsPerSec = 1'000'000'000;
  if (seconds < 0 ||
      static_cast<std::int64_t>(seconds) > std::numeric_limits<std::int64_t>::max() / kNsPerSec) {
    return 0;
  }
  return static_cast<std::int64_t>(seconds) * kNsPerSec;
}

}  // namespace epochcache
