#include "common/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>

namespace epochcache {
namespace {

FileInfo InfoOf(const struct stat& st) {
  FileInfo info;
  info.size = static_cast<std::uint64_t>(st.st_size);
  info.mode = st.st_mode & 07777;
  info.is_dir = S_ISDIR(st.st_mode);
  info.is_regular = S_ISREG(st.st_mode);
  info.mtime_ns = st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec;
  info.ctime_ns = st.st_ctim.tv_sec * 1'000'000'000LL + st.st_ctim.tv_nsec;
  info.inode = static_cast<std::uint64_t>(st.st_ino);
  return info;
}

class PosixEnv final : public Env {
 public:
  Result<int> Open(const std::string& path, OpenMode mode, unsigned perms) override {
    int flags = O_CLOEXEC;
    switch (mode) {
      case OpenMode::kRead:
        flags |= O_RDONLY;
        break;
      case OpenMode::kCreateNew:
        flags |= O_WRONLY | O_CREAT | O_EXCL;
        break;
      case OpenMode::kDirectory:
        flags |= O_RDONLY | O_DIRECTORY;
        break;
    }
    int fd = -1;
    do {
      fd = ::open(path.c_str(), flags, perms);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
      return ErrnoStatus(errno, (mode == OpenMode::kCreateNew ? "creating " : "opening ") + path);
    }
    return fd;
  }

  Status Close(int fd) override {
    // Linux releases the descriptor even when close fails (EINTR included): never retry.
    if (::close(fd) != 0) return ErrnoStatus(errno, "closing a file");
    return Status::Ok();
  }

  Result<std::size_t> ReadAt(int fd, std::span<std::byte> out, std::uint64_t offset) override {
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n =
          ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, "reading a file");
      }
      if (n == 0) break;
      done += static_cast<std::size_t>(n);
    }
    return done;
  }

  Status Write(int fd, std::span<const std::span<const std::byte>> parts) override {
    // One writev for the common case of a header and a page: a single system call per page.
    constexpr std::size_t kMaxIov = 8;
    std::size_t first = 0;  // the first part not fully written
    std::size_t done = 0;   // bytes of parts[first] already written
    while (first < parts.size()) {
      std::array<iovec, kMaxIov> iov{};
      int n = 0;
      for (std::size_t i = first; i < parts.size() && n < static_cast<int>(kMaxIov); ++i) {
        const std::span<const std::byte> left = parts[i].subspan(i == first ? done : 0);
        // iovec's base is non-const by POSIX; writev does not modify the buffer.
        iov[n].iov_base = const_cast<std::byte*>(left.data());  // NOLINT
        iov[n].iov_len = left.size();
        ++n;
      }
      const ssize_t wrote = ::writev(fd, iov.data(), n);
      if (wrote < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, "writing a file");
      }
      auto count = static_cast<std::size_t>(wrote);
      while (first < parts.size() && count >= parts[first].size() - done) {
        count -= parts[first].size() - done;
        done = 0;
        ++first;
      }
      done += count;
    }
    return Status::Ok();
  }

  Result<FileInfo> Stat(int fd) override {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, "stat of an open file");
    return InfoOf(st);
  }

  Status ChangeMode(int fd, unsigned mode) override {
    if (::fchmod(fd, mode) != 0) return ErrnoStatus(errno, "changing the mode of a file");
    return Status::Ok();
  }

  Result<FileInfo> Stat(const std::string& path) override {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "stat " + path);
    return InfoOf(st);
  }

  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoStatus(errno, "renaming " + from + " to " + to);
    }
    return Status::Ok();
  }

  Status Unlink(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoStatus(errno, "removing " + path);
    return Status::Ok();
  }

  Status CreateDir(const std::string& path, unsigned perms) override {
    if (::mkdir(path.c_str(), perms) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, "creating directory " + path);
    }
    return Status::Ok();
  }

  Result<std::vector<DirEntry>> ListDir(const std::string& path) override {
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(path.c_str()), &::closedir);
    if (!dir) return ErrnoStatus(errno, "listing " + path);
    std::vector<DirEntry> out;
    errno = 0;
    // readdir is thread-safe on distinct DIR streams (glibc); the stream is ours.
    while (const dirent* ent = ::readdir(dir.get())) {  // NOLINT(concurrency-mt-unsafe)
      const std::string_view name(static_cast<const char*>(ent->d_name));
      if (name == "." || name == "..") continue;
      bool is_dir = ent->d_type == DT_DIR;
      if (ent->d_type == DT_UNKNOWN) {  // some file systems do not fill d_type
        struct stat st {};
        is_dir = ::fstatat(::dirfd(dir.get()), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                 S_ISDIR(st.st_mode);
      }
      out.push_back(DirEntry{std::string(name), is_dir});
      errno = 0;
    }
    if (errno != 0) return ErrnoStatus(errno, "listing " + path);
    return out;
  }
};

}  // namespace

Status ErrnoStatus(int err, std::string_view context) {
  std::string message(context);
  message.append(": ").append(std::strerror(err));  // NOLINT(concurrency-mt-unsafe)
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return Status::NotFound(std::move(message));
    case EACCES:
    case EPERM:
    case EROFS:
      return Status::PermissionDenied(std::move(message));
    case ENOSPC:
    case EDQUOT:
      return Status::Rejected(std::move(message));
    default:
      return Status::IoError(std::move(message));
  }
}

Env* Env::Default() {
  static PosixEnv env;  // stateless, so its destruction at exit cannot race a late user
  return &env;
}

ScopedFd& ScopedFd::operator=(ScopedFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

ScopedFd::~ScopedFd() { reset(); }

void ScopedFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

}  // namespace epochcache
