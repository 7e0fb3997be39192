#include "pagestore/page_file.h"

#include <algorithm>
#include <array>

#include "common/private_dir.h"
#include "pagestore/page_format.h"

namespace epochcache::pagestore {
namespace {

// Creates the temp file, making its prefix dir on first use.
Result<int> CreateTemp(Env* env, const std::string& temp_path) {
  Result<int> fd = env->Open(temp_path, OpenMode::kCreateNew, kPrivateFileMode);
  if (fd.ok() || fd.status().code() != StatusCode::kNotFound) return fd;
  // If the cache dir itself is gone, the retry fails with NotFound too, which the store reads
  // as "take this dir out of service".
  const std::string prefix = temp_path.substr(0, temp_path.rfind('/'));
  EC_RETURN_IF_ERROR(env->CreateDir(prefix, kPrivateDirMode));
  return env->Open(temp_path, OpenMode::kCreateNew, kPrivateFileMode);
}

// Writes and closes the temp file and renames it into place; leaves the temp file on failure.
Status WriteAndRename(Env* env, int raw_fd, const std::string& temp_path,
                      const std::string& final_path, std::span<const std::byte> header,
                      std::span<const std::span<const std::byte>> data) {
  ScopedFd fd(raw_fd);
  std::vector<std::span<const std::byte>> parts;
  parts.reserve(data.size() + 1);
  parts.push_back(header);
  parts.insert(parts.end(), data.begin(), data.end());
  EC_RETURN_IF_ERROR(env->Write(fd.get(), parts).WithContext(temp_path));
  // Close's error counts: a file system may report a failed write only there.
  EC_RETURN_IF_ERROR(env->Close(fd.release()).WithContext(temp_path));
  return env->Rename(temp_path, final_path);
}

}  // namespace

Result<PageHeader> ReadHeader(Env* env, int fd, const PageId& id, std::uint64_t page_size,
                              std::uint64_t file_size) {
  std::array<std::byte, kHeaderAlign> first{};
  EC_ASSIGN_OR_RETURN(const std::size_t got, env->ReadAt(fd, first, 0));
  std::span<const std::byte> bytes(first.data(), got);
  std::vector<std::byte> larger;  // only for page sizes above ~32 MiB
  const std::size_t need = RequiredHeaderBytes(bytes);
  if (need > first.size()) {
    larger.resize(need);
    EC_ASSIGN_OR_RETURN(const std::size_t more, env->ReadAt(fd, larger, 0));
    bytes = std::span<const std::byte>(larger.data(), more);
  }
  EC_ASSIGN_OR_RETURN(PageHeader header, DecodeHeader(bytes));
  if (header.file_key != id.file_key || header.page_index != id.index) {
    return Status::ChecksumError("page header names a different page");
  }
  if (header.page_size != page_size) {
    return Status::ChecksumError("page was written with page size " +
                                 std::to_string(header.page_size));
  }
  const std::uint64_t expected = header.header_size + header.StoredBytes();
  if (header.data_length == 0 || header.StoredBytes() == 0 || file_size != expected) {
    return Status::ChecksumError("page file is " + std::to_string(file_size) +
                                 " bytes, header says " + std::to_string(expected));
  }
  return header;
}

Status WritePageFile(Env* env, const std::string& temp_path, const std::string& final_path,
                     std::span<const std::byte> header,
                     std::span<const std::span<const std::byte>> data) {
  // kCreateNew: the file is new, so it gets exactly this mode (less the umask), never an old one.
  EC_ASSIGN_OR_RETURN(const int fd, CreateTemp(env, temp_path));
  Status status = WriteAndRename(env, fd, temp_path, final_path, header, data);
  if (!status.ok()) {
    // A partial page must not stay behind; if this fails too, the next start discards it.
    (void)env->Unlink(temp_path);
  }
  return status;
}

Result<StoredChunks> ReadStoredChunks(Env* env, const std::string& path, const PageId& id,
                                      std::uint64_t page_size) {
  EC_ASSIGN_OR_RETURN(const int raw_fd, env->Open(path, OpenMode::kRead));
  ScopedFd fd(raw_fd);
  EC_ASSIGN_OR_RETURN(const FileInfo info, env->Stat(fd.get()));
  StoredChunks out;
  EC_ASSIGN_OR_RETURN(out.header, ReadHeader(env, fd.get(), id, page_size, info.size));
  const PageHeader& header = out.header;
  out.data.resize(header.data_length);
  out.present.assign(header.present.size(), false);
  std::uint64_t at = header.header_size;
  for (std::uint32_t c = 0; c < header.present.size(); ++c) {
    if (!header.present[c]) continue;
    const std::uint64_t len = header.ChunkLength(c);
    const std::span<std::byte> chunk =
        std::span(out.data).subspan(std::uint64_t{c} * kChunkSize, len);
    Result<std::size_t> got = env->ReadAt(fd.get(), chunk, at);
    if (!got.ok()) return got.status().WithContext(path);
    at += len;
    out.present[c] = *got == len && ChunkChecksum(chunk) == header.chunk_checksums[c];
  }
  return out;
}

ScanResult ScanPrefixDir(Env* env, const std::string& prefix_path, std::uint64_t page_size) {
  ScanResult out;
  if (Result<int> dir_fd = env->Open(prefix_path, OpenMode::kDirectory); dir_fd.ok()) {
    const ScopedFd dir(*dir_fd);
    // Best effort: a dir we cannot narrow still holds valid pages.
    if (Result<FileInfo> info = env->Stat(dir.get()); info.ok() && (info->mode & 077) != 0) {
      (void)env->ChangeMode(dir.get(), info->mode & 0700);
    }
  }
  Result<std::vector<DirEntry>> entries = env->ListDir(prefix_path);
  if (!entries.ok()) {
    out.status = entries.status();
    return out;
  }
  for (const DirEntry& entry : *entries) {
    if (entry.is_dir) continue;
    const std::string path = prefix_path + "/" + entry.name;
    if (entry.name.ends_with(kTempSuffix)) {
      (void)env->Unlink(path);
      ++out.discarded;
      continue;
    }
    PageId id;
    if (!ParsePageFileName(entry.name, &id)) {
      ++out.ignored;
      continue;
    }
    ScopedFd fd;
    FileInfo info;
    bool valid = false;
    PageHeader header;
    if (Result<int> opened = env->Open(path, OpenMode::kRead); opened.ok()) {
      fd = ScopedFd(*opened);
      Result<FileInfo> stat = env->Stat(fd.get());
      Result<PageHeader> read = stat.ok() && stat->is_regular
                                    ? ReadHeader(env, fd.get(), id, page_size, stat->size)
                                    : Result<PageHeader>(Status::ChecksumError("not a file"));
      valid = read.ok();
      if (valid) {
        info = *stat;
        header = *std::move(read);
      }
    }
    if (valid &&
        std::find(header.present.begin(), header.present.end(), false) != header.present.end()) {
      // A partial page: count only the chunks that verify.
      Result<StoredChunks> chunks = ReadStoredChunks(env, path, id, page_size);
      valid = chunks.ok() && std::find(chunks->present.begin(), chunks->present.end(), true) !=
                                 chunks->present.end();
      if (valid) header.present = std::move(chunks->present);
    }
    if (!valid) {
      // Unreadable counts as invalid: the page is refetched, which beats serving a doubtful one.
      (void)env->Unlink(path);
      ++out.discarded;
      continue;
    }
    if ((info.mode & 077) != 0) (void)env->ChangeMode(fd.get(), info.mode & 0700);
    out.pages.push_back(FoundPage{std::move(id), info.size, header.data_length,
                                  std::move(header.present), info.mtime_ns});
  }
  return out;
}

}  // namespace epochcache::pagestore
