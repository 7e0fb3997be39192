#include "understore/local_under_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace epochcache {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kFileScheme = "file://";

std::int64_t MtimeNs(const struct stat& st) {
  constexpr std::int64_t kNsPerSec = 1'000'000'000;
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * kNsPerSec + st.st_mtim.tv_nsec;
}

// Size and mtime identify a local file's content well enough: rewriting a file changes its mtime.
std::string LocalVersion(const struct stat& st) {
  return fmt::format("{}-{}", st.st_size, MtimeNs(st));
}

FileStatus ToFileStatus(const fs::path& path, const struct stat& st) {
  FileStatus out;
  out.path = path.string();
  out.is_directory = S_ISDIR(st.st_mode);
  out.size = out.is_directory ? 0 : static_cast<std::uint64_t>(st.st_size);
  out.mtime_ns = MtimeNs(st);
  out.version = out.is_directory ? "" : LocalVersion(st);
  return out;
}

Status ErrnoStatus(int err, const fs::path& path, std::string_view what) {
  const std::string msg = fmt::format("{}: {} failed: {}", path.string(), what, std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return Status::NotFound(fmt::format("{} does not exist", path.string()));
    case EACCES:
    case EPERM:
      return Status::PermissionDenied(msg);
    default:
      return Status::IoError(msg);
  }
}

bool IsInside(const fs::path& root, const fs::path& p) {
  auto [root_end, p_it] = std::mismatch(root.begin(), root.end(), p.begin(), p.end());
  return root_end == root.end();
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

}  // namespace

Result<std::unique_ptr<LocalUnderStore>> LocalUnderStore::Open(std::string_view root) {
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
  if (!fs::is_directory(canonical, ec)) {
    return Status::InvalidArgument(fmt::format("under-store root '{}' is not a directory", root));
  }
  return std::unique_ptr<LocalUnderStore>(new LocalUnderStore(std::move(canonical)));
}

Result<fs::path> LocalUnderStore::Resolve(std::string_view raw) const {
  std::string_view p = raw;
  if (p.starts_with(kFileScheme)) p.remove_prefix(kFileScheme.size());
  if (p.empty() || p.front() != '/') {
    return Status::InvalidArgument(
        fmt::format("'{}' is not an absolute path or a file:/// URI", raw));
  }
  if (p.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("path contains a NUL byte");
  }
  fs::path lexical = fs::path(p).lexically_normal();
  if (lexical.has_filename() == false && lexical != lexical.root_path()) {
    lexical = lexical.parent_path();  // "/a/b/" → "/a/b"
  }
  const std::string outside =
      fmt::format("{} is outside the under-store root {}", raw, root_.string());
  if (!IsInside(root_, lexical)) return Status::PermissionDenied(outside);
  // Symlinks inside the root may point anywhere; only targets inside the root are served.
  std::error_code ec;
  const fs::path resolved = fs::weakly_canonical(lexical, ec);
  if (!ec && !IsInside(root_, resolved)) return Status::PermissionDenied(outside);
  return lexical;
}

Result<FileStatus> LocalUnderStore::Stat(std::string_view path) {
  EC_ASSIGN_OR_RETURN(const fs::path p, Resolve(path));
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return ErrnoStatus(errno, p, "stat");
  return ToFileStatus(p, st);
}

Result<std::vector<FileStatus>> LocalUnderStore::List(std::string_view path, bool recursive) {
  EC_ASSIGN_OR_RETURN(const fs::path dir, Resolve(path));
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return ErrnoStatus(errno, dir, "stat");
  if (!S_ISDIR(st.st_mode)) {
    return Status::NotFound(fmt::format("{} is a file, not a directory", dir.string()));
  }
  std::vector<FileStatus> out;
  std::error_code ec;
  auto add = [&](const fs::directory_entry& entry) {
    struct stat est {};
    // Entries that vanish while listing, or links out of the root, are skipped.
    if (::stat(entry.path().c_str(), &est) != 0) return;
    if (!Resolve(entry.path().string()).ok()) return;
    if (recursive && S_ISDIR(est.st_mode)) return;
    out.push_back(ToFileStatus(entry.path(), est));
  };
  if (recursive) {
    for (auto it = fs::recursive_directory_iterator(
             dir, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      add(*it);
    }
  } else {
    for (auto it = fs::directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::directory_iterator(); it.increment(ec)) {
      add(*it);
    }
  }
  if (ec) return ErrnoStatus(ec.value(), dir, "list");
  std::sort(out.begin(), out.end(),
            [](const FileStatus& a, const FileStatus& b) { return a.path < b.path; });
  return out;
}

Result<std::size_t> LocalUnderStore::ReadRange(std::string_view path, std::string_view version,
                                               std::uint64_t offset, std::span<std::byte> out) {
  EC_ASSIGN_OR_RETURN(const fs::path p, Resolve(path));
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, p, "open");
  FdCloser closer(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, p, "fstat");
  if (S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument(fmt::format("{} is a directory", p.string()));
  }
  if (!version.empty() && version != LocalVersion(st)) {
    return Status::Changed(fmt::format("{} changed since version {}", p.string(), version));
  }
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n =
        ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, p, "read");
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

}  // namespace epochcache
