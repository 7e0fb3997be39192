// The pieces of the Hugging Face Hub's HTTP API the Hugging Face under store uses, kept apart
// from the requests so they can be tested on their own: the answers' JSON, the pagination
// header, and where the token and endpoint come from.
//
//   GET {endpoint}/api/{models|datasets|spaces}/{repo}/revision/{revision}  → {"sha": ...}
//   GET {endpoint}/api/{type}s/{repo}/tree/{commit}[/{path}]?recursive=...  → [{entry}, ...]
//       paged: a "Link: <url>; rel="next"" header names the next page (a cursor in its query)
//   GET {endpoint}/{prefix}{repo}/resolve/{commit}/{path}                   → the bytes,
//       usually through a 302 to a CDN on another host
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "epochcache/status.h"

namespace epochcache {

// One entry of a tree answer.
struct HfTreeEntry {
  std::string path;  // inside the repository, no leading '/'
  bool is_directory = false;
  std::uint64_t size = 0;  // the file's size (for an LFS file, the stored object's)
  std::string oid;         // the LFS object's sha256 when there is one, else the git blob id

  bool operator==(const HfTreeEntry&) const = default;
};

// The entries of one tree page. IoError naming what is malformed (never the whole body).
Result<std::vector<HfTreeEntry>> ParseHfTreePage(std::string_view json);

// The commit ("sha") of a revision answer; IoError unless it is a commit id (see IsHfCommit).
Result<std::string> ParseHfRevisionSha(std::string_view json);

// A git commit id: 40 (sha1) or 64 (sha256) lower-case hex digits. Only such ids are put into
// URLs, so a server's answer cannot steer a later request elsewhere.
bool IsHfCommit(std::string_view text);

// The URL of the rel="next" link of a Link header (RFC 8288), if there is one.
std::optional<std::string> HfNextPageUrl(std::string_view link_header);

// Where the store's settings come from (the names huggingface_hub uses):
//   endpoint: HF_ENDPOINT, else https://huggingface.co;
//   token: HF_TOKEN, else the file HF_TOKEN_PATH, else $HF_HOME/token, else
//          $XDG_CACHE_HOME/huggingface/token or ~/.cache/huggingface/token; none = anonymous;
//   revision_ttl: EPOCHCACHE_HF_REVISION_TTL (seconds, default 10): how long a branch or tag
//          stays resolved to one commit.
struct HfSettings {
  std::string endpoint;      // no trailing '/'
  std::string token;         // never shown in any message
  std::string token_source;  // "HF_TOKEN", the file's path, or "" (anonymous)
  std::chrono::milliseconds revision_ttl{10000};
};
// InvalidArgument for an unusable endpoint, TTL or token (a token's text is never shown).
Result<HfSettings> LoadHfSettings();

}  // namespace epochcache
