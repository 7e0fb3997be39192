#include "understore/hf_path.h"

#include <fmt/format.h>

#include <regex>

#include "common/curl_http.h"

namespace epochcache {
namespace {

constexpr std::string_view kScheme = "hf://";

bool IsRepoNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

// The Hub's rule for a namespace or a name, kept strict so that an id never needs escaping.
bool IsRepoNamePart(std::string_view part) {
  if (part.empty() || part.size() > 96 || part.find("..") != std::string_view::npos) return false;
  if (part.front() == '.' || part.back() == '.' || part.front() == '-') return false;
  for (const char c : part) {
    if (!IsRepoNameChar(c)) return false;
  }
  return true;
}

bool HasControlCharacter(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

}  // namespace

std::string_view HfApiSegment(HfRepoType type) {
  switch (type) {
    case HfRepoType::kDataset:
      return "datasets";
    case HfRepoType::kSpace:
      return "spaces";
    case HfRepoType::kModel:
      break;
  }
  return "models";
}

std::string_view HfUrlPrefix(HfRepoType type) {
  switch (type) {
    case HfRepoType::kDataset:
      return "datasets/";
    case HfRepoType::kSpace:
      return "spaces/";
    case HfRepoType::kModel:
      break;
  }
  return "";
}

std::string HfEffectiveRevision(const HfLocation& location) {
  return location.revision.empty() ? std::string("main") : location.revision;
}

Result<HfLocation> ParseHfUri(std::string_view uri) {
  const auto bad = [&](std::string_view why) {
    return Status::InvalidArgument(fmt::format(
        "'{}' is not a Hugging Face path ({}): expected hf://[datasets/|spaces/]namespace/"
        "name[@revision][/path]",
        uri, why));
  };
  if (!uri.starts_with(kScheme)) return bad("it does not start with hf://");
  std::string_view rest = uri.substr(kScheme.size());
  HfLocation loc;
  std::string_view prefix;
  if (rest.starts_with("datasets/")) {
    loc.type = HfRepoType::kDataset;
    prefix = "datasets/";
  } else if (rest.starts_with("spaces/")) {
    loc.type = HfRepoType::kSpace;
    prefix = "spaces/";
  }
  rest.remove_prefix(prefix.size());

  // "namespace/name", then "@revision", then "/path".
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) return bad("no namespace/name");
  const std::string_view ns = rest.substr(0, slash);
  std::string_view after = rest.substr(slash + 1);
  const auto name_end = after.find_first_of("@/");
  const std::string_view name = after.substr(0, name_end);
  if (!IsRepoNamePart(ns) || !IsRepoNamePart(name)) {
    return bad(fmt::format("'{}/{}' is not a repository id", ns, name));
  }
  loc.repo_id = fmt::format("{}/{}", ns, name);
  after = name_end == std::string_view::npos ? std::string_view() : after.substr(name_end);

  if (after.starts_with('@')) {
    after.remove_prefix(1);
    // Like HfFileSystem: the special refs keep their slashes, any other revision ends at '/'.
    static const std::regex kSpecialRef(R"(^(refs/convert/\w+|refs/pr/\d+)(?=/|$))");
    const std::string tail(after);
    std::smatch match;
    std::size_t rev_len = 0;
    if (std::regex_search(tail, match, kSpecialRef)) {
      rev_len = static_cast<std::size_t>(match.length(0));
    } else {
      rev_len = std::min(after.find('/'), after.size());
    }
    const std::string_view spelled = after.substr(0, rev_len);
    if (spelled.empty()) return bad("an empty revision after '@'");
    auto decoded = PercentDecode(spelled);
    if (!decoded.ok()) return bad("a malformed %-escape in the revision");
    if (decoded->empty() || *decoded == "." || *decoded == ".." || HasControlCharacter(*decoded)) {
      return bad("an unusable revision");
    }
    loc.revision = std::move(*decoded);
    after.remove_prefix(rev_len);
  }
  loc.repo_part =
      std::string(uri.substr(kScheme.size(), uri.size() - kScheme.size() - after.size()));

  if (!after.empty()) {
    if (!after.starts_with('/')) return bad("the repository id is followed by neither '@' nor '/'");
    after.remove_prefix(1);
    while (after.ends_with('/')) after.remove_suffix(1);
    loc.path = std::string(after);
  }
  return loc;
}

}  // namespace epochcache
