// The local-filesystem under store: a directory tree (a mounted NFS share, a dataset copied to
// disk, or the embedded default of a single-node setup).
//
// Paths are absolute ("/data/x") or file URIs ("file:///data/x"). Containment: a path must pass
// CheckUnderPath and lie under the root; it is then opened beneath a directory fd of the root
// with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) (on kernels without openat2, a walk of
// O_NOFOLLOW opens, which refuses every symlink). So a symlink that stays inside the root works,
// and one that leaves it, or a "../" hidden in a symlink, is PermissionDenied at the moment of
// the open, with no window between a check and the use. Status comes from the opened fd, never
// from the path again; listings open each entry the same way and skip what they cannot.
//
// Listing pages: a directory has no order of its own, so each page reads it whole (readdir
// only: names and types), keeping in memory only the first names after the page's start,
// about one page of them; only the entries returned are opened and stat'ed. Recursive pages
// walk the tree in path order (a subdirectory "sub" sorts as "sub/", where its files' paths
// do), skipping every subtree that lies wholly before the start, so a page reads the
// directories on the way to its start and those it lists from. Memory: about one page of
// names per level of the walk. Time: a page through a directory of N names reads all N names.
//
// Versions: "size-mtime_ns-inode-ctime_ns". ctime cannot be set by users, so `cp -p`,
// `rsync -t` or a tar extract that keeps size and mtime still makes a new version. A read
// checks the version on the opened fd before and after reading and returns kChanged if
// anything moved, so a file written in place during a read is never returned mixed. A file
// whose ctime is younger than the settle time (kSettle by default) is read only once it is that
// old (a write still copying has already set the ctime it will end with, and coarse timestamps
// need a tick to move). Not caught: one single write() call still copying a settle time after
// it started. File reads go through an Env and the settle wait through a Clock, so tests can
// pause a read midway or hold a read in its wait without real time passing.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/env.h"
#include "epochcache/under_store.h"

namespace epochcache {

struct LocalUnderStoreOptions {
  Env* env = nullptr;      // file reads; null means Env::Default(). Not owned.
  Clock* clock = nullptr;  // the settle wait; null means Clock::Real(). Not owned.
  std::chrono::nanoseconds settle{std::chrono::milliseconds(20)};
};

class LocalUnderStore final : public UnderStore {
 public:
  static constexpr std::chrono::nanoseconds kSettle = LocalUnderStoreOptions{}.settle;

  // REQUIRES: `root` is an existing directory (checked by Open); whatever `options` points to
  // outlives the store.
  static Result<std::unique_ptr<LocalUnderStore>> Open(std::string_view root,
                                                       LocalUnderStoreOptions options = {});
  ~LocalUnderStore() override;
  LocalUnderStore(const LocalUnderStore&) = delete;
  LocalUnderStore& operator=(const LocalUnderStore&) = delete;

  [[nodiscard]] std::string_view Scheme() const override { return "file"; }
  Result<FileStatus> Stat(std::string_view path) override;
  Result<std::vector<FileStatus>> List(std::string_view path, bool recursive) override {
    return ListAllPages(path, recursive);
  }
  Result<ListPage> ListAfter(std::string_view path, bool recursive, std::string_view start_after,
                             std::size_t limit) override;
  Result<std::size_t> ReadRange(std::string_view path, std::string_view version,
                                std::uint64_t offset, std::span<std::byte> out) override;

 private:
  LocalUnderStore(std::filesystem::path root, int root_fd, const LocalUnderStoreOptions& options)
      : root_(std::move(root)),
        root_fd_(root_fd),
        env_(options.env != nullptr ? *options.env : *Env::Default()),
        clock_(options.clock != nullptr ? *options.clock : Clock::Real()),
        settle_(options.settle) {}

  // `path` relative to the root ("" for the root itself), or PermissionDenied.
  Result<std::string> Relative(std::string_view path) const;
  // The absolute path of `relative`, as FileStatus spells it.
  [[nodiscard]] std::string Absolute(const std::string& relative) const;
  // An fd for `relative` opened beneath the root (the caller closes it).
  Result<int> OpenBeneath(const std::string& relative, int flags) const;
  Result<int> WalkBeneath(const std::string& relative, int flags) const;
  // Appends to `out`, in path order, the entries of the directory `dir_fd` (at `relative`)
  // that come after `start` (and, when recursive, those of its subdirectories), until `out`
  // holds `wanted` entries.
  Status ListDir(int dir_fd, const std::string& relative, bool recursive, std::string_view start,
                 std::size_t wanted, std::vector<FileStatus>& out) const;

  std::filesystem::path root_;  // canonical, no trailing slash
  int root_fd_;                 // O_PATH directory fd of the root
  Env& env_;
  Clock& clock_;
  const std::chrono::nanoseconds settle_;
};

}  // namespace epochcache
