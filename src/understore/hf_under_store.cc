#include "understore/hf_under_store.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/path_rules.h"
#include "understore/list_paging.h"
#include "understore/retrying_http.h"

namespace epochcache {
namespace {

constexpr std::string_view kVersionPrefix = "hf:";

std::string Version(const std::string& commit, const std::string& oid) {
  return oid.empty() ? fmt::format("{}{}", kVersionPrefix, commit)
                     : fmt::format("{}{}:{}", kVersionPrefix, commit, oid);
}

std::string_view ParentOf(std::string_view path_in_repo) {
  const auto slash = path_in_repo.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : path_in_repo.substr(0, slash);
}

std::string RepoName(const HfLocation& loc) {
  return fmt::format("{}{}", HfUrlPrefix(loc.type), loc.repo_id);
}

}  // namespace

Result<std::unique_ptr<HfUnderStore>> HfUnderStore::Open(std::string_view root_uri,
                                                         const UnderStoreOptions& options) {
  EC_ASSIGN_OR_RETURN(HfSettings settings, LoadHfSettings());
  return Open(root_uri, options, std::move(settings));
}

Result<std::unique_ptr<HfUnderStore>> HfUnderStore::Open(std::string_view root_uri,
                                                         const UnderStoreOptions& options,
                                                         HfSettings settings, Clock& clock) {
  std::string root(root_uri);
  while (root.ends_with('/')) root.pop_back();
  EC_RETURN_IF_ERROR(CheckUnderPath(root).WithContext("under-store root"));
  EC_ASSIGN_OR_RETURN(HfLocation loc, ParseHfUri(root));
  while (settings.endpoint.ends_with('/')) settings.endpoint.pop_back();
  auto endpoint = ParseHttpUrl(settings.endpoint);
  if (!endpoint.ok()) {
    return Status::InvalidArgument(fmt::format("the Hugging Face endpoint '{}' is not usable",
                                               RedactUserinfo(settings.endpoint)));
  }
  std::string origin = endpoint->Origin();
  return std::unique_ptr<HfUnderStore>(
      new HfUnderStore(std::move(loc), std::move(settings), std::move(origin), options, clock));
}

Result<HfLocation> HfUnderStore::Resolve(std::string_view path) const {
  EC_RETURN_IF_ERROR(CheckUnderPath(path));
  EC_ASSIGN_OR_RETURN(HfLocation loc, ParseHfUri(path));
  // One revision per root (as the worker routes by the root's spelling): a root without one
  // serves the default branch only; another revision is another root.
  const bool same_repo =
      loc.type == root_.type && loc.repo_id == root_.repo_id && loc.revision == root_.revision;
  const bool under = root_.path.empty() || loc.path == root_.path ||
                     (loc.path.starts_with(root_.path) && loc.path[root_.path.size()] == '/');
  if (!same_repo || !under) {
    return Status::PermissionDenied(fmt::format("{} is outside the under-store root hf://{}{}{}",
                                                path, root_.repo_part,
                                                root_.path.empty() ? "" : "/", root_.path));
  }
  return loc;
}

std::string HfUnderStore::RepoApiUrl(const HfLocation& loc) const {
  return fmt::format("{}/api/{}/{}", settings_.endpoint, HfApiSegment(loc.type), loc.repo_id);
}

std::string HfUnderStore::EntryPath(const HfLocation& loc, std::string_view path_in_repo) {
  return path_in_repo.empty() ? fmt::format("hf://{}", loc.repo_part)
                              : fmt::format("hf://{}/{}", loc.repo_part, path_in_repo);
}

Status HfUnderStore::ErrorStatus(const HttpResponse& response, std::string_view what) const {
  // The answer's body is never shown: a server may echo the request, token included.
  switch (response.status) {
    case 404:
    case 410:
      return Status::NotFound(fmt::format("{} does not exist (HTTP {})", what, response.status));
    case 401:
    case 403:
      return Status::PermissionDenied(fmt::format(
          "{}: the Hugging Face Hub refused access (HTTP {}); {}", what, response.status,
          settings_.token.empty()
              ? "no token was configured (set HF_TOKEN or log in with `hf auth login`)"
              : fmt::format("check the token from {}", settings_.token_source)));
    default:
      if (response.status >= 500 || response.status == 429) {
        return Status::Unavailable(
            fmt::format("{}: the Hub answered HTTP {}", what, response.status));
      }
      return Status::IoError(fmt::format("{}: unexpected HTTP {}", what, response.status));
  }
}

Result<HttpResponse> HfUnderStore::Fetch(const HttpRequest& request, const std::string& url) {
  return PerformFollowingRedirects(
      http_, request, url, origin_, kMaxRedirects,
      [&](HttpRequest& hop, bool home) {
        if (home && !settings_.token.empty()) {
          hop.headers.push_back("Authorization: Bearer " + settings_.token);
        }
      },
      options_, [&](const HttpResponse& r) { return ErrorStatus(r, url); }, &retries_);
}

Result<std::string> HfUnderStore::CommitOf(const HfLocation& loc) {
  const std::string revision = HfEffectiveRevision(loc);
  if (IsHfCommit(revision)) return revision;  // already immutable
  const std::string key = fmt::format("{}/{}@{}", HfApiSegment(loc.type), loc.repo_id, revision);
  const auto now = clock_.Now();
  {
    std::lock_guard lock(mu_);
    if (auto it = commits_.find(key);
        it != commits_.end() && now - it->second.at < settings_.revision_ttl) {
      return it->second.commit;
    }
  }
  const std::string url =
      fmt::format("{}/revision/{}", RepoApiUrl(loc), AwsUriEncode(revision, false));
  revision_requests_.fetch_add(1);
  EC_ASSIGN_OR_RETURN(HttpResponse response, Fetch(HttpRequest{}, url));
  const std::string what = fmt::format("revision '{}' of {}", revision, RepoName(loc));
  if (response.status == 404) {
    return Status::NotFound(fmt::format(
        "{} not found on the Hub (no such repository or revision, or a private repository the "
        "token cannot see)",
        what));
  }
  if (response.status != 200) return ErrorStatus(response, what);
  auto parsed = ParseHfRevisionSha(response.body);
  if (!parsed.ok()) return parsed.status().WithContext(what);
  std::string commit = std::move(*parsed);
  std::lock_guard lock(mu_);
  commits_[key] = ResolvedRevision{commit, now};
  return commit;
}

Result<std::shared_ptr<const HfUnderStore::Tree>> HfUnderStore::TreeOf(const HfLocation& loc,
                                                                       const std::string& commit,
                                                                       const std::string& dir,
                                                                       bool recursive) {
  const std::string key = fmt::format("{}/{}@{}:{}:{}", HfApiSegment(loc.type), loc.repo_id, commit,
                                      recursive ? 'r' : 'd', dir);
  {
    std::lock_guard lock(mu_);
    if (auto it = trees_.find(key); it != trees_.end()) return it->second;
  }
  const std::string what = EntryPath(loc, dir);
  std::string url =
      fmt::format("{}/tree/{}{}{}?recursive={}", RepoApiUrl(loc), commit, dir.empty() ? "" : "/",
                  AwsUriEncode(dir, true), recursive ? "true" : "false");
  auto tree = std::make_shared<Tree>();
  std::vector<std::string> seen;
  for (int page = 0;; ++page) {
    if (page == kMaxTreePages || std::find(seen.begin(), seen.end(), url) != seen.end()) {
      return Status::IoError(fmt::format("{}: the Hub's tree pages do not end", what));
    }
    seen.push_back(url);
    EC_ASSIGN_OR_RETURN(HttpResponse response, Fetch(HttpRequest{}, url));
    if (response.status == 404) {
      return Status::NotFound(
          fmt::format("{} is not a directory at commit {} (HTTP 404)", what, commit));
    }
    if (response.status != 200) return ErrorStatus(response, what);
    auto entries = ParseHfTreePage(response.body);
    if (!entries.ok()) return entries.status().WithContext(what);
    tree->insert(tree->end(), std::make_move_iterator(entries->begin()),
                 std::make_move_iterator(entries->end()));
    const auto next = HfNextPageUrl(HeaderValue(response, "link"));
    if (!next) break;
    EC_ASSIGN_OR_RETURN(std::string next_url, ResolveRedirect(url, *next));
    auto next_parts = ParseHttpUrl(next_url);
    if (!next_parts.ok() || !next_parts->user.empty() || next_parts->Origin() != origin_) {
      // The token goes with every tree request, so a next page must stay on the endpoint.
      return Status::PermissionDenied(
          fmt::format("{}: refused the next tree page at '{}' (not on the endpoint {})", what,
                      RedactUserinfo(next_url), settings_.endpoint));
    }
    url = std::move(next_url);
  }
  std::shared_ptr<const Tree> shared = std::move(tree);
  std::lock_guard lock(mu_);
  if (trees_.emplace(key, shared).second) {
    tree_order_.push_back(key);
    if (tree_order_.size() > kTreeCacheEntries) {
      trees_.erase(tree_order_.front());
      tree_order_.erase(tree_order_.begin());
    }
  }
  return shared;
}

Result<FileStatus> HfUnderStore::Stat(std::string_view path) {
  EC_ASSIGN_OR_RETURN(const HfLocation loc, Resolve(path));
  EC_ASSIGN_OR_RETURN(const std::string commit, CommitOf(loc));
  FileStatus st;
  st.path = std::string(path);
  while (st.path.ends_with('/')) st.path.pop_back();
  if (loc.path.empty()) {
    st.is_directory = true;
    st.version = Version(commit, "");
    return st;
  }
  EC_ASSIGN_OR_RETURN(const auto tree, TreeOf(loc, commit, std::string(ParentOf(loc.path)), false));
  const auto it = std::find_if(tree->begin(), tree->end(),
                               [&](const HfTreeEntry& e) { return e.path == loc.path; });
  if (it == tree->end()) {
    return Status::NotFound(fmt::format("{} does not exist at commit {}", path, commit));
  }
  st.is_directory = it->is_directory;
  st.size = it->is_directory ? 0 : it->size;
  st.version = Version(commit, it->is_directory ? "" : it->oid);
  return st;
}

Result<ListPage> HfUnderStore::ListAfter(std::string_view path, bool recursive,
                                         std::string_view start_after, std::size_t limit) {
  EC_RETURN_IF_ERROR(CheckListLimit(limit));
  EC_ASSIGN_OR_RETURN(const HfLocation loc, Resolve(path));
  EC_ASSIGN_OR_RETURN(const std::string commit, CommitOf(loc));
  EC_ASSIGN_OR_RETURN(const auto tree, TreeOf(loc, commit, loc.path, recursive));
  const std::string dir_prefix = loc.path.empty() ? std::string() : loc.path + "/";
  std::vector<FileStatus> all;
  all.reserve(tree->size());
  for (const HfTreeEntry& e : *tree) {
    if (recursive && e.is_directory) continue;
    if (!e.path.starts_with(dir_prefix) || e.path.size() == dir_prefix.size()) continue;
    FileStatus st;
    st.path = EntryPath(loc, e.path);
    // A name no path may spell (a '?', "..", a control character) could not be read back.
    if (!CheckUnderPath(st.path).ok()) continue;
    st.is_directory = e.is_directory;
    st.size = e.is_directory ? 0 : e.size;
    st.version = Version(commit, e.is_directory ? "" : e.oid);
    all.push_back(std::move(st));
  }
  return SliceListing(std::move(all), start_after, limit);
}

Result<std::size_t> HfUnderStore::ReadRange(std::string_view path, std::string_view version,
                                            std::uint64_t offset, std::span<std::byte> out) {
  EC_ASSIGN_OR_RETURN(const HfLocation loc, Resolve(path));
  if (loc.path.empty()) {
    return Status::InvalidArgument(fmt::format("{} is a repository, not a file", path));
  }
  std::string commit;
  if (!version.empty()) {
    // The commit of the version, never the branch's current one: a version's bytes never change.
    std::string_view rest = version;
    if (rest.starts_with(kVersionPrefix)) rest.remove_prefix(kVersionPrefix.size());
    commit = std::string(rest.substr(0, rest.find(':')));
    if (!version.starts_with(kVersionPrefix) || !IsHfCommit(commit)) {
      return Status::InvalidArgument(
          fmt::format("'{:.100}' is not a Hugging Face version (hf:<commit>:<oid>)", version));
    }
  } else {
    EC_ASSIGN_OR_RETURN(commit, CommitOf(loc));
  }
  if (out.empty()) return std::size_t{0};
  const std::string url = fmt::format("{}/{}/resolve/{}/{}", settings_.endpoint, RepoName(loc),
                                      commit, AwsUriEncode(loc.path, true));
  HttpRequest request;
  request.headers.push_back(fmt::format("Range: bytes={}-{}", offset, offset + out.size() - 1));
  request.body_out = out;
  auto response = Fetch(request, url);
  EC_ASSIGN_OR_RETURN(const auto bytes, RangedReadBytes(response, offset, path));
  if (bytes) return *bytes;
  switch (response->status) {
    case 404:
      if (!version.empty()) {
        return Status::Changed(fmt::format("{}: commit {} of version {} is no longer on the Hub",
                                           path, commit, version));
      }
      return ErrorStatus(*response, path);
    default:
      return ErrorStatus(*response, path);
  }
}

}  // namespace epochcache
