// The Hugging Face Hub under store: hf:// paths, the path form of huggingface_hub's
// HfFileSystem (see hf_path.h), read through the Hub's HTTP API (see hf_api.h).
//
// Versions: a revision (a branch, a tag, "main" when none is named) is resolved to a commit
// once and that answer kept for the revision TTL (HfSettings::revision_ttl); every later
// request names the commit, never the branch. A file's version is "hf:<commit>:<oid>", and
// ReadRange reads from the commit in the version it is given, so the bytes of one version
// never change and pages of an old commit are never served for a new one: after a branch
// moves, stats give the new commit's versions once the TTL has passed, and reads of the old
// version keep reading the old commit (a commit no longer on the Hub is reported as Changed).
//
// Stat and listing use the tree API (all of its pages); a tree answer is immutable for its
// commit, so a few are kept (kTreeCacheEntries) and ListAfter pages are cut from them. Stat
// of a path is a lookup in its parent directory's tree. mtime is not known (0).
//
// Reads are resolve URLs with a Range header. Redirects (the Hub sends reads to a CDN on
// another host) are followed with PerformFollowingRedirects: the token goes only to the
// endpoint's origin, never along a redirect to another. 429 and 5xx are retried within the
// deadline, waiting at least what Retry-After asks.
//
// Containment: every path passes CheckUnderPath, must name the root's repository and the
// root's revision (none when the root names none: the default branch) and lie under the
// root's path; the path inside
// the repository is percent-encoded segment by segment, so it is sent as exactly those names.
// The token never appears in a message or log.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/curl_http.h"
#include "epochcache/under_store.h"
#include "understore/hf_api.h"
#include "understore/hf_path.h"

namespace epochcache {

class HfUnderStore final : public UnderStore {
 public:
  static constexpr int kMaxRedirects = 5;
  static constexpr std::size_t kTreeCacheEntries = 64;
  static constexpr int kMaxTreePages = 100000;

  // `root_uri`: "hf://[datasets/|spaces/]namespace/name[@revision][/path]". Settings from the
  // environment (LoadHfSettings).
  static Result<std::unique_ptr<HfUnderStore>> Open(std::string_view root_uri,
                                                    const UnderStoreOptions& options);
  // `clock` times the revision TTL (a test passes a manual one).
  static Result<std::unique_ptr<HfUnderStore>> Open(std::string_view root_uri,
                                                    const UnderStoreOptions& options,
                                                    HfSettings settings,
                                                    Clock& clock = Clock::Real());

  [[nodiscard]] std::string_view Scheme() const override { return "hf"; }
  Result<FileStatus> Stat(std::string_view path) override;
  Result<std::vector<FileStatus>> List(std::string_view path, bool recursive) override {
    return ListAllPages(path, recursive);
  }
  Result<ListPage> ListAfter(std::string_view path, bool recursive, std::string_view start_after,
                             std::size_t limit) override;
  Result<std::size_t> ReadRange(std::string_view path, std::string_view version,
                                std::uint64_t offset, std::span<std::byte> out) override;

  // Revision requests sent so far (for tests).
  [[nodiscard]] std::uint64_t revision_requests() const { return revision_requests_.load(); }

 private:
  using Tree = std::vector<HfTreeEntry>;
  HfUnderStore(HfLocation root, HfSettings settings, std::string origin,
               const UnderStoreOptions& options, Clock& clock)
      : root_(std::move(root)),
        settings_(std::move(settings)),
        origin_(std::move(origin)),
        options_(options),
        clock_(clock) {}

  // The location of `path` after the containment checks.
  Result<HfLocation> Resolve(std::string_view path) const;
  // The commit the location's revision means now (resolved at most once per TTL).
  Result<std::string> CommitOf(const HfLocation& loc);
  // The whole tree of `dir` at `commit` (every page), from the cache when there.
  Result<std::shared_ptr<const Tree>> TreeOf(const HfLocation& loc, const std::string& commit,
                                             const std::string& dir, bool recursive);
  // A GET (or `request` as given) to the Hub, following redirects; the token only to the
  // endpoint's origin.
  Result<HttpResponse> Fetch(const HttpRequest& request, const std::string& url);
  Status ErrorStatus(const HttpResponse& response, std::string_view what) const;
  // "hf://" + the repository part as the caller spelled it + "/" + path.
  static std::string EntryPath(const HfLocation& loc, std::string_view path_in_repo);
  std::string RepoApiUrl(const HfLocation& loc) const;

  HfLocation root_;
  HfSettings settings_;
  std::string origin_;  // the endpoint's scheme://host:port
  UnderStoreOptions options_;
  Clock& clock_;
  CurlHttp http_;
  std::atomic<std::uint64_t> retries_{0};
  std::atomic<std::uint64_t> revision_requests_{0};

  struct ResolvedRevision {
    std::string commit;
    Clock::time_point at;
  };
  std::mutex mu_;
  std::map<std::string, ResolvedRevision> commits_;           // GUARDED_BY(mu_)
  std::map<std::string, std::shared_ptr<const Tree>> trees_;  // GUARDED_BY(mu_)
  std::vector<std::string> tree_order_;                       // GUARDED_BY(mu_), oldest first
};

}  // namespace epochcache
