// The worker's request target: split, percent-decoded parameters, and the path rule on every
// decoded value that could be a path. None may crash, and what CheckUnderPath lets through
// must hold none of the spellings it promises to refuse.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/path_rules.h"
#include "fuzz_check.h"
#include "worker/http_util.h"

namespace {

bool HasForbiddenSegment(std::string_view path) {
  // Skip a scheme and authority: the rule is about the path part.
  if (const auto scheme = path.find("://"); scheme != std::string_view::npos) {
    const auto slash = path.find('/', scheme + 3);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  if (path.ends_with('/')) path.remove_suffix(1);
  for (std::size_t at = 0; at < path.size();) {
    const std::size_t next = path.find('/', at + 1);
    const std::string_view seg =
        path.substr(at + 1, (next == std::string_view::npos ? path.size() : next) - at - 1);
    if (seg == "." || seg == "..") return true;
    if (seg.empty() && at != 0 && next != std::string_view::npos) return true;
    if (next == std::string_view::npos) break;
    at = next;
  }
  return false;
}

void CheckPath(std::string_view path) {
  if (!epochcache::CheckUnderPath(path).ok()) return;
  for (const char c : path) {
    const auto u = static_cast<unsigned char>(c);
    FUZZ_CHECK(u >= 0x20 && u != 0x7f);
  }
  FUZZ_CHECK(!HasForbiddenSegment(path));
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
