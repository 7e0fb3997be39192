#include "understore/local_under_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <queue>
#include <system_error>

#include "common/path_rules.h"
#include "understore/list_paging.h"

namespace epochcache {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kFileScheme = "file://";
constexpr std::int64_t kNsPerSec = 1'000'000'000;
constexpr int kMaxRaceRetries = 8;
// Children read per pass of a directory at least (a pass that yields too few entries, say
// through empty subdirectories, reads the directory again from where it stopped).
constexpr std::size_t kMinChildBatch = 256;

std::int64_t Ns(const struct timespec& t) {
  return static_cast<std::int64_t>(t.tv_sec) * kNsPerSec + t.tv_nsec;
}

// Size and mtime say what the owner claims; inode and ctime (which no one can set) catch a
// replaced file, or a rewrite that restored size and mtime.
std::string LocalVersion(const struct stat& st) {
  return fmt::format("{}-{}-{}-{}", st.st_size, Ns(st.st_mtim), st.st_ino, Ns(st.st_ctim));
}

FileStatus ToFileStatus(std::string path, const struct stat& st) {
  FileStatus out;
  out.path = std::move(path);
  out.is_directory = S_ISDIR(st.st_mode);
  out.size = out.is_directory ? 0 : static_cast<std::uint64_t>(st.st_size);
  out.mtime_ns = Ns(st.st_mtim);
  out.version = out.is_directory ? "" : LocalVersion(st);
  return out;
}

Status ErrnoStatus(int err, std::string_view path, std::string_view what) {
  const std::string msg = fmt::format("{}: {} failed: {}", path, what, std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return Status::NotFound(fmt::format("{} does not exist", path));
    case EACCES:
    case EPERM:
      return Status::PermissionDenied(msg);
    case EXDEV:  // RESOLVE_BENEATH: the path (through a symlink) leaves the root
    case ELOOP:  // a symlink where none may be followed, or a loop: fail closed
      return Status::PermissionDenied(
          fmt::format("{} leads outside the under-store root (through a symlink)", path));
    default:
      return Status::IoError(msg);
  }
}

// Closes a file descriptor on scope exit.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  int fd_;
};

// A child of a directory in walk order: keyed by its name, or by its name + "/" when it is a
// subdirectory a recursive walk goes into (its files' paths continue that way).
struct Child {
  std::string key;
  bool walk_into = false;

  [[nodiscard]] std::string name() const { return walk_into ? key.substr(0, key.size() - 1) : key; }
  bool operator<(const Child& other) const { return key < other.key; }
};

struct ChildBatch {
  std::vector<Child> children;  // sorted by key
  bool more = false;            // children past the last one exist
};

// Whether the child keyed `child` (or a path in its subtree) comes after `start`, a path
// relative to the directory ("" = from the start).
bool AfterStart(const Child& child, std::string_view start) {
  if (start.empty() || start < child.key) return true;
  return child.walk_into && start.starts_with(child.key);
}

// One pass of readdir over `dir_fd`: the first `keep` children in key order that come after
// `start` and whose key is past `after` (if not empty). Holds at most `keep` + 1 names.
Result<ChildBatch> ReadChildren(int dir_fd, const std::string& shown, bool recursive,
                                std::string_view start, const std::string& after,
                                std::size_t keep) {
  const int own = ::dup(dir_fd);
  if (own < 0) return ErrnoStatus(errno, shown, "dup");
  DIR* dir = ::fdopendir(own);
  if (dir == nullptr) {
    const int err = errno;
    ::close(own);
    return ErrnoStatus(err, shown, "opendir");
  }
  ::rewinddir(dir);  // the offset is shared with dir_fd, which an earlier pass moved
  std::priority_queue<Child> firsts;  // the largest on top, to drop when over `keep`
  ChildBatch batch;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    Child child{std::string(name), false};
    if (recursive) {
      bool is_dir = entry->d_type == DT_DIR;
      struct stat st {};
      if (entry->d_type == DT_UNKNOWN &&
          ::fstatat(dir_fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        is_dir = S_ISDIR(st.st_mode);
      }
      if (is_dir) {
        child.key += '/';
        child.walk_into = true;
      }
    }
    if ((!after.empty() && child.key <= after) || !AfterStart(child, start)) continue;
    firsts.push(std::move(child));
    if (firsts.size() > keep) {
      firsts.pop();
      batch.more = true;
    }
  }
  ::closedir(dir);
  batch.children.resize(firsts.size());
  for (auto it = batch.children.rbegin(); it != batch.children.rend(); ++it) {
    *it = firsts.top();
    firsts.pop();
  }
  return batch;
}

std::int64_t NowNs() {
  struct timespec now {};
  clock_gettime(CLOCK_REALTIME, &now);
  return Ns(now);
}

}  // namespace

LocalUnderStore::~LocalUnderStore() { ::close(root_fd_); }

Result<std::unique_ptr<LocalUnderStore>> LocalUnderStore::Open(std::string_view root,
                                                               LocalUnderStoreOptions options) {
  std::string_view r = root;
  if (r.starts_with(kFileScheme)) r.remove_prefix(kFileScheme.size());
  if (r.empty() || r.front() != '/') {
    return Status::InvalidArgument(
        fmt::format("under-store root '{}' must be an absolute path or a file:/// URI", root));
  }
  std::error_code ec;
  fs::path canonical = fs::canonical(fs::path(r), ec);
  if (ec) {
    return Status::NotFound(
        fmt::format("under-store root '{}' cannot be opened: {}", root, ec.message()));
  }
  const int fd = ::open(canonical.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOTDIR) {
      return Status::InvalidArgument(fmt::format("under-store root '{}' is not a directory", root));
    }
    return ErrnoStatus(errno, canonical.string(), "open");
  }
  return std::unique_ptr<LocalUnderStore>(new LocalUnderStore(std::move(canonical), fd, options));
}

Result<std::string> LocalUnderStore::Relative(std::string_view raw) const {
  EC_RETURN_IF_ERROR(CheckUnderPath(raw));
  std::string_view p = raw;
  if (p.starts_with(kFileScheme)) p.remove_prefix(kFileScheme.size());
  if (p.empty() || p.front() != '/') {
    return Status::InvalidArgument(
        fmt::format("'{}' is not an absolute path or a file:/// URI", raw));
  }
  if (p.size() > 1 && p.ends_with('/')) p.remove_suffix(1);  // "/a/b/" names "/a/b"
  const std::string& root = root_.native();
  if (root == "/") return std::string(p.substr(1));
  if (p == root) return std::string();
  if (p.starts_with(root) && p[root.size()] == '/') return std::string(p.substr(root.size() + 1));
  return Status::PermissionDenied(fmt::format("{} is outside the under-store root {}", raw, root));
}

std::string LocalUnderStore::Absolute(const std::string& relative) const {
  if (relative.empty()) return root_.native();
  return root_.native() == "/" ? "/" + relative : root_.native() + "/" + relative;
}

Result<int> LocalUnderStore::OpenBeneath(const std::string& relative, int flags) const {
  const std::string shown = Absolute(relative);
  if (relative.empty()) {
    const int fd = ::openat(root_fd_, ".", flags | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, shown, "open");
    return fd;
  }
  struct open_how how {};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  for (int attempt = 0;; ++attempt) {
    const long fd = ::syscall(  // NOLINT(google-runtime-int): syscall's type
        SYS_openat2, root_fd_, relative.c_str(), &how, sizeof(how));
    if (fd >= 0) return static_cast<int>(fd);
    const int err = errno;
    if (err == ENOSYS) return WalkBeneath(relative, flags);
    // EAGAIN: a concurrent rename raced a ".." in a symlink; the kernel asks to try again.
    if ((err == EAGAIN || err == EINTR) && attempt < kMaxRaceRetries) continue;
    return ErrnoStatus(err, shown, "open");
  }
}

Result<int> LocalUnderStore::WalkBeneath(const std::string& relative, int flags) const {
  const std::string shown = Absolute(relative);
  int dir = ::openat(root_fd_, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return ErrnoStatus(errno, shown, "open");
  std::string_view rest = relative;
  while (true) {
    const auto slash = rest.find('/');
    const std::string name(rest.substr(0, slash));
    const bool last = slash == std::string_view::npos;
    const int next = ::openat(
        dir, name.c_str(),
        last ? (flags | O_NOFOLLOW | O_CLOEXEC) : (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    const int err = errno;
    ::close(dir);
    if (next < 0) return ErrnoStatus(err, shown, "open");
    if (last) {
      struct stat st {};
      // O_PATH | O_NOFOLLOW opens a symlink itself rather than failing: refuse it here.
      if (::fstat(next, &st) != 0 || S_ISLNK(st.st_mode)) {
        ::close(next);
        return ErrnoStatus(ELOOP, shown, "open");
      }
      return next;
    }
    dir = next;
    rest.remove_prefix(slash + 1);
  }
}

Result<FileStatus> LocalUnderStore::Stat(std::string_view path) {
  EC_ASSIGN_OR_RETURN(const std::string rel, Relative(path));
  EC_ASSIGN_OR_RETURN(const int fd, OpenBeneath(rel, O_PATH));
  FdCloser closer(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, Absolute(rel), "fstat");
  return ToFileStatus(Absolute(rel), st);
}

Status LocalUnderStore::ListDir(int dir_fd, const std::string& relative, bool recursive,
                                std::string_view start, std::size_t wanted,
                                std::vector<FileStatus>& out) const {
  std::string after;  // the last child taken, when a batch ran out before `out` filled up
  while (out.size() < wanted) {
    const std::size_t keep =
        wanted == kNoLimit ? kNoLimit : std::max(wanted - out.size(), kMinChildBatch);
    EC_ASSIGN_OR_RETURN(ChildBatch batch,
                        ReadChildren(dir_fd, Absolute(relative), recursive, start, after, keep));
    for (const Child& child : batch.children) {
      if (out.size() >= wanted) return Status::Ok();
      after = child.key;
      const std::string name = child.name();
      std::string path = relative;
      if (!path.empty()) path += '/';
      path += name;
      if (child.walk_into) {
        struct stat link {};
        // Descend real directories only: a symlinked one could loop, and its files are listed
        // under their own path anyway.
        if (::fstatat(dir_fd, name.c_str(), &link, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISDIR(link.st_mode)) {
          continue;
        }
        auto sub = OpenBeneath(path, O_RDONLY | O_DIRECTORY);
        if (!sub.ok()) continue;
        FdCloser sub_closer(*sub);
        const std::string_view sub_start =
            start.starts_with(child.key) ? start.substr(child.key.size()) : std::string_view();
        EC_RETURN_IF_ERROR(ListDir(*sub, path, recursive, sub_start, wanted, out));
        continue;
      }
      // Through the root again: a symlink counts only if it resolves inside. Entries that
      // vanish, or lead out, are skipped.
      auto fd = OpenBeneath(path, O_PATH);
      if (!fd.ok()) continue;
      FdCloser closer(*fd);
      struct stat st {};
      if (::fstat(*fd, &st) != 0) continue;
      if (recursive && S_ISDIR(st.st_mode)) continue;  // a symlinked directory
      out.push_back(ToFileStatus(Absolute(path), st));
    }
    if (!batch.more) break;
  }
  return Status::Ok();
}

Result<ListPage> LocalUnderStore::ListAfter(std::string_view path, bool recursive,
                                            std::string_view start_after, std::size_t limit) {
  EC_RETURN_IF_ERROR(CheckListLimit(limit));
  EC_ASSIGN_OR_RETURN(const std::string rel, Relative(path));
  auto fd = OpenBeneath(rel, O_RDONLY | O_DIRECTORY);
  if (!fd.ok()) {
    if (fd.status().code() == StatusCode::kNotFound && Stat(path).ok()) {
      return Status::NotFound(fmt::format("{} is a file, not a directory", Absolute(rel)));
    }
    return fd.status();
  }
  FdCloser closer(*fd);
  const std::string dir = Absolute(rel);
  const StartPoint start = LocateStart(dir == "/" ? dir : dir + "/", start_after);
  ListPage page;
  if (start.kind == StartPoint::kNone) return page;
  EC_RETURN_IF_ERROR(ListDir(*fd, rel, recursive, start.rest, OnePastLimit(limit), page.entries));
  page.more = page.entries.size() > limit;
  if (page.more) page.entries.resize(limit);
  return page;
}

Result<std::size_t> LocalUnderStore::ReadRange(std::string_view path, std::string_view version,
                                               std::uint64_t offset, std::span<std::byte> out) {
  EC_ASSIGN_OR_RETURN(const std::string rel, Relative(path));
  const std::string shown = Absolute(rel);
  EC_ASSIGN_OR_RETURN(const int fd, OpenBeneath(rel, O_RDONLY));
  FdCloser closer(fd);
  struct stat before {};
  if (::fstat(fd, &before) != 0) return ErrnoStatus(errno, shown, "fstat");
  if (S_ISDIR(before.st_mode))
    return Status::InvalidArgument(fmt::format("{} is a directory", shown));
  const std::string seen = LocalVersion(before);
  if (!version.empty() && version != seen) {
    return Status::Changed(fmt::format("{} changed since version {}", shown, version));
  }
  // A change younger than the settle time may belong to a write still in progress: wait it
  // out, then make sure nothing moved meanwhile.
  const std::int64_t age = NowNs() - Ns(before.st_ctim);
  const std::int64_t settle = settle_.count();
  if (age < settle) {
    clock_.SleepFor(std::chrono::nanoseconds(std::min(settle, settle - age)));
    struct stat settled {};
    if (::fstat(fd, &settled) != 0) return ErrnoStatus(errno, shown, "fstat");
    if (LocalVersion(settled) != seen) {
      return Status::Changed(fmt::format("{} is being written", shown));
    }
  }
  auto read = env_.ReadAt(fd, out, offset);
  if (!read.ok()) return read.status().WithContext(shown);
  const std::size_t done = *read;
  struct stat after {};
  if (::fstat(fd, &after) != 0) return ErrnoStatus(errno, shown, "fstat");
  if (LocalVersion(after) != seen) {
    return Status::Changed(fmt::format("{} changed while being read", shown));
  }
  return done;
}

}  // namespace epochcache
