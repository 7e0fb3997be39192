#include "pagestore/page_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>

#include "pagestore/fault_injection.h"
#include "pagestore/page_format.h"

namespace epochcache::pagestore {
namespace {

std::string ErrnoText(int err) { return std::strerror(err); }  // NOLINT(concurrency-mt-unsafe)

// Closes a descriptor on scope exit unless released.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = other.release();
    }
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Writes all of `parts`, retrying short writes. Returns 0 or the errno.
int WriteAll(int fd, std::span<const std::byte> header, std::span<const std::byte> data) {
  if (int injected = TakeWriteFault(); injected != 0) return injected;
  std::array<std::span<const std::byte>, 2> parts = {header, data};
  std::size_t first = 0;
  while (first < parts.size()) {
    std::array<iovec, 2> iov{};
    int n = 0;
    for (std::size_t i = first; i < parts.size(); ++i) {
      // iovec's base is non-const by POSIX; writev does not modify the buffer.
      iov[n].iov_base = const_cast<std::byte*>(parts[i].data());  // NOLINT
      iov[n].iov_len = parts[i].size();
      ++n;
    }
    const ssize_t wrote = ::writev(fd, iov.data(), n);
    if (wrote < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    auto left = static_cast<std::size_t>(wrote);
    while (first < parts.size() && left >= parts[first].size()) {
      left -= parts[first].size();
      ++first;
    }
    if (first < parts.size()) parts[first] = parts[first].subspan(left);
  }
  return 0;
}

// Reads exactly out.size() bytes at `offset`; returns bytes read (short at EOF) or -errno.
ssize_t PreadFull(int fd, std::span<std::byte> out, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n =
        ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

// Reads and checks the header of an open page file against what its name and the store say.
Result<PageHeader> ReadHeader(int fd, const PageId& id, std::uint64_t page_size,
                              std::uint64_t file_size, int* err) {
  std::array<std::byte, kHeaderAlign> first{};
  const ssize_t got = PreadFull(fd, first, 0);
  if (got < 0) {
    *err = static_cast<int>(-got);
    return Status::IoError("reading page header: " + ErrnoText(*err));
  }
  std::span<const std::byte> bytes(first.data(), static_cast<std::size_t>(got));
  std::vector<std::byte> larger;  // only for page sizes above ~32 MiB
  const std::size_t need = RequiredHeaderBytes(bytes);
  if (need > first.size()) {
    larger.resize(need);
    const ssize_t more = PreadFull(fd, larger, 0);
    if (more < 0) {
      *err = static_cast<int>(-more);
      return Status::IoError("reading page header: " + ErrnoText(*err));
    }
    bytes = std::span<const std::byte>(larger.data(), static_cast<std::size_t>(more));
  }
  EC_ASSIGN_OR_RETURN(PageHeader header, DecodeHeader(bytes));
  if (header.file_key != id.file_key || header.page_index != id.index) {
    return Status::ChecksumError("page header names a different page");
  }
  if (header.page_size != page_size) {
    return Status::ChecksumError("page was written with page size " +
                                 std::to_string(header.page_size));
  }
  if (header.data_length == 0 || file_size != header.header_size + header.data_length) {
    return Status::ChecksumError("page file is " + std::to_string(file_size) +
                                 " bytes, header says " +
                                 std::to_string(header.header_size + header.data_length));
  }
  return header;
}

}  // namespace

int MakePrivateDirs(const std::string& path) {
  for (std::size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string part = path.substr(0, slash);
    if (!part.empty() && ::mkdir(part.c_str(), kPrivateDirMode) != 0 && errno != EEXIST) {
      return errno;
    }
    if (slash == std::string::npos) break;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno;
  if (!S_ISDIR(st.st_mode)) return ENOTDIR;
  // Only ever narrows: a dir made read-only on purpose stays so.
  if ((st.st_mode & 077) != 0 && ::chmod(path.c_str(), st.st_mode & 0700) != 0) return errno;
  return 0;
}

int WritePageFile(const std::string& temp_path, const std::string& final_path, const PageId& id,
                  std::uint64_t page_size, std::span<const std::byte> data, std::string* error) {
  const std::vector<std::byte> header = EncodeHeader(id, page_size, data);
  constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
  // O_EXCL: the file is new, so it gets exactly this mode (less the umask), never an old one.
  Fd fd(::open(temp_path.c_str(), kFlags, kPrivateFileMode));
  if (fd.get() < 0 && errno == ENOENT) {
    // Prefix dirs are made on first use. If the cache dir itself is gone, mkdir fails with
    // ENOENT too, which the store reads as "take this dir out of service".
    const std::string prefix = temp_path.substr(0, temp_path.rfind('/'));
    if (::mkdir(prefix.c_str(), kPrivateDirMode) == 0 || errno == EEXIST) {
      fd = Fd(::open(temp_path.c_str(), kFlags, kPrivateFileMode));
    }
  }
  if (fd.get() < 0) {
    const int err = errno;
    *error = "creating " + temp_path + ": " + ErrnoText(err);
    return err;
  }
  int err = WriteAll(fd.get(), header, data);
  if (err == 0 && ::close(fd.release()) != 0) err = errno;
  if (err == 0 && ::rename(temp_path.c_str(), final_path.c_str()) != 0) err = errno;
  if (err != 0) {
    *error = "writing " + temp_path + ": " + ErrnoText(err);
    ::unlink(temp_path.c_str());
  }
  return err;
}

Result<PageHandle> OpenVerifiedPage(const std::string& path, const PageId& id,
                                    std::uint64_t page_size, std::uint64_t offset,
                                    std::uint64_t length, int* err) {
  *err = 0;
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    *err = errno;
    if (*err == ENOENT) return Status::NotFound(path + " is gone");
    return Status::IoError("opening " + path + ": " + ErrnoText(*err));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    *err = errno;
    return Status::IoError("stat " + path + ": " + ErrnoText(*err));
  }
  EC_ASSIGN_OR_RETURN(PageHeader header, ReadHeader(fd.get(), id, page_size,
                                                    static_cast<std::uint64_t>(st.st_size), err));
  if (offset > header.data_length || length > header.data_length - offset) {
    return Status::InvalidArgument("range " + std::to_string(offset) + "+" +
                                   std::to_string(length) + " is outside page of " +
                                   std::to_string(header.data_length) + " bytes");
  }
  if (length > 0) {
    const std::uint64_t first_chunk = offset / kChunkSize;
    const std::uint64_t end_chunk = (offset + length - 1) / kChunkSize + 1;
    const std::uint64_t begin = first_chunk * kChunkSize;
    const std::uint64_t end = std::min(end_chunk * kChunkSize, header.data_length);
    thread_local std::vector<std::byte> buffer;
    buffer.resize(end - begin);
    const ssize_t got = PreadFull(fd.get(), buffer, header.header_size + begin);
    if (got < 0) {
      *err = static_cast<int>(-got);
      return Status::IoError("reading " + path + ": " + ErrnoText(*err));
    }
    if (static_cast<std::uint64_t>(got) != end - begin) {
      return Status::ChecksumError(path + " is truncated");
    }
    for (std::uint64_t c = first_chunk; c < end_chunk; ++c) {
      const std::uint64_t cbegin = c * kChunkSize - begin;
      const std::uint64_t clen = std::min<std::uint64_t>(kChunkSize, end - begin - cbegin);
      if (ChunkChecksum(std::span<const std::byte>(buffer).subspan(cbegin, clen)) !=
          header.chunk_checksums[c]) {
        return Status::ChecksumError(path + ": checksum mismatch in chunk " + std::to_string(c));
      }
    }
  }
  return PageHandle(fd.release(), header.header_size + offset, length);
}

ScanResult ScanPrefixDir(const std::string& prefix_path, std::uint64_t page_size) {
  ScanResult out;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(prefix_path.c_str()), &::closedir);
  if (!dir) {
    out.error = errno;
    return out;
  }
  const int dfd = ::dirfd(dir.get());
  struct stat dir_st {};
  if (::fstat(dfd, &dir_st) == 0 && (dir_st.st_mode & 077) != 0) {
    ::fchmod(dfd, dir_st.st_mode & 0700);
  }
  while (const dirent* ent = ::readdir(dir.get())) {  // NOLINT(concurrency-mt-unsafe)
    const std::string_view name(static_cast<const char*>(ent->d_name));
    if (name == "." || name == ".." || ent->d_type == DT_DIR) continue;
    if (name.ends_with(kTempSuffix)) {
      ::unlinkat(dfd, ent->d_name, 0);
      ++out.discarded;
      continue;
    }
    PageId id;
    if (!ParsePageFileName(name, &id)) {
      ++out.ignored;
      continue;
    }
    Fd fd(::openat(dfd, ent->d_name, O_RDONLY | O_CLOEXEC));
    struct stat st {};
    int err = 0;
    bool valid =
        fd.get() >= 0 && ::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) &&
        ReadHeader(fd.get(), id, page_size, static_cast<std::uint64_t>(st.st_size), &err).ok();
    if (!valid) {
      ::unlinkat(dfd, ent->d_name, 0);
      ++out.discarded;
      continue;
    }
    if ((st.st_mode & 077) != 0) ::fchmod(fd.get(), st.st_mode & 0700);
    out.pages.push_back(FoundPage{std::move(id), static_cast<std::uint64_t>(st.st_size),
                                  st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec});
  }
  return out;
}

}  // namespace epochcache::pagestore
