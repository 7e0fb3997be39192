// The worker's request target: split, percent-decoded parameters, and the path rule on every
// decoded value that could be a path. None may crash, and what CheckUnderPath lets through
// must hold none of the spellings it promises to refuse.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/path_rules.h"
#include "fuzz_check.h"
#include "worker/http_util.h"

namespace {

// What CheckUnderPath promises (path_rules.h), restated independently: a path it accepts has
// no control character, no '?', '#', '@' or '\\' in the authority, no '?' or '#' in the path,
// and, framed by slashes, no empty, "." or ".." segment.
void CheckAccepted(std::string_view uri) {
  for (const char c : uri) {
    const auto u = static_cast<unsigned char>(c);
    FUZZ_CHECK(u >= 0x20 && u != 0x7f);
  }
  std::string_view path = uri;
  if (const auto scheme = uri.find("://"); scheme != std::string_view::npos) {
    const std::string_view rest = uri.substr(scheme + 3);
    const auto slash = rest.find('/');
    FUZZ_CHECK(rest.substr(0, slash).find_first_of("?#@\\") == std::string_view::npos);
    path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  }
  FUZZ_CHECK(path.find_first_of("?#") == std::string_view::npos);
  if (path.empty() || path == "/") return;
  FUZZ_CHECK(path.front() == '/');
  std::string framed(path.ends_with('/') ? path.substr(0, path.size() - 1) : path);
  framed += '/';
  FUZZ_CHECK(framed.find("//") == std::string::npos);
  FUZZ_CHECK(framed.find("/./") == std::string::npos);
  FUZZ_CHECK(framed.find("/../") == std::string::npos);
}

void CheckPath(std::string_view path) {
  if (epochcache::CheckUnderPath(path).ok()) CheckAccepted(path);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto decoded = epochcache::worker::PercentDecode(input); decoded.ok()) {
    FUZZ_CHECK(decoded->size() <= input.size());
    CheckPath(*decoded);
  }
  auto target = epochcache::worker::ParseTarget(input);
  if (!target.ok()) return 0;
  FUZZ_CHECK(target->path.size() <= input.size());
  for (const auto& [name, value] : target->params) {
    FUZZ_CHECK(name.size() + value.size() <= input.size());
    CheckPath(value);
  }
  return 0;
}
