#include "arrow/file_system.h"

#include <arrow/util/io_util.h>

#include <cerrno>
#include <chrono>
#include <map>
#include <utility>

#include "arrow/input_file.h"
#include "arrow/status_map.h"

namespace epochcache::arrowfs {
namespace {

using arrow::fs::FileInfo;
using arrow::fs::FileType;

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += item + ",";
  return out;
}

}  // namespace

arrow::Result<std::shared_ptr<ArrowFileSystem>> ArrowFileSystem::Make(
    std::string_view target_protocol, ClientOptions options,
    const arrow::io::IOContext& io_context) {
  auto protocol = CanonicalProtocol(target_protocol);
  if (!protocol.ok()) return ToArrow(protocol.status());
  std::string identity = *protocol + "|" + Join(options.worker_hosts) + "|" +
                         Join(options.etcd_endpoints) + "|" + options.cluster;
  auto client = Client::Create(std::move(options));
  if (!client.ok()) return ToArrow(client.status());
  return std::make_shared<ArrowFileSystem>(TargetPaths(std::move(protocol).value()),
                                           std::shared_ptr<Client>(std::move(client).value()),
                                           std::move(identity), io_context);
}

ArrowFileSystem::ArrowFileSystem(TargetPaths paths, std::shared_ptr<Client> client,
                                 std::string identity, const arrow::io::IOContext& io_context)
    : arrow::fs::FileSystem(io_context),
      paths_(std::move(paths)),
      client_(std::move(client)),
      identity_(std::move(identity)) {
  // A stat is a network round trip: the async variants run it on the IO executor.
  default_async_is_sync_ = false;
}

bool ArrowFileSystem::Equals(const arrow::fs::FileSystem& other) const {
  if (this == &other) return true;
  if (other.type_name() != type_name()) return false;
  return static_cast<const ArrowFileSystem&>(other).identity_ == identity_;
}

arrow::Result<std::string> ArrowFileSystem::Name(const std::string& path) const {
  auto name = paths_.Name(path);
  if (!name.ok()) return ToArrow(name.status());
  return std::move(name).value();
}

arrow::Result<std::string> ArrowFileSystem::NormalizePath(std::string path) { return Name(path); }

arrow::Result<std::string> ArrowFileSystem::PathFromUri(const std::string& uri_string) const {
  const auto query = uri_string.find('?');
  return Name(uri_string.substr(0, query));
}

FileInfo ArrowFileSystem::Info(const FileStatus& status, std::string fallback_name) const {
  std::string name = std::move(fallback_name);
  if (!status.path.empty()) {
    if (auto canonical = paths_.Name(status.path); canonical.ok())
      name = std::move(canonical).value();
  }
  FileInfo info(std::move(name), status.is_directory ? FileType::Directory : FileType::File);
  if (!status.is_directory) info.set_size(static_cast<std::int64_t>(status.size));
  if (status.mtime_ns != 0) {
    info.set_mtime(arrow::fs::TimePoint(std::chrono::nanoseconds(status.mtime_ns)));
  }
  return info;
}

arrow::Result<FileInfo> ArrowFileSystem::GetFileInfo(const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(std::string name, Name(path));
  if (name.empty()) return FileInfo(name, FileType::Directory);  // the root of s3:// and the like
  auto status = client_->Stat(paths_.Uri(name));
  if (!status.ok()) {
    if (status.status().code() == StatusCode::kNotFound) {
      return FileInfo(std::move(name), FileType::NotFound);
    }
    return ToArrow(status.status());
  }
  return Info(*status, std::move(name));
}

arrow::Result<arrow::fs::FileInfoVector> ArrowFileSystem::GetFileInfo(
    const arrow::fs::FileSelector& select) {
  ARROW_ASSIGN_OR_RAISE(std::string base, Name(select.base_dir));
  const std::string uri = paths_.Uri(base);
  auto listed = client_->List(uri, select.recursive);
  if (!listed.ok()) {
    const StatusCode code = listed.status().code();
    if (code != StatusCode::kNotFound && code != StatusCode::kInvalidArgument) {
      return ToArrow(listed.status());
    }
    // Missing, or not a directory: the stat tells which, as Arrow's own filesystems answer.
    auto status = client_->Stat(uri);
    if (status.ok() && !status->is_directory) {
      return arrow::internal::IOErrorFromErrno(ENOTDIR, "epochcache: cannot list ", uri,
                                               ": not a directory");
    }
    if (status.ok()) return ToArrow(listed.status());
    if (status.status().code() != StatusCode::kNotFound) return ToArrow(status.status());
    if (select.allow_not_found) return arrow::fs::FileInfoVector{};
    return ToArrow(listed.status());
  }
  if (select.recursive) return WithDirectories(base, *listed, select.max_recursion);
  arrow::fs::FileInfoVector out;
  out.reserve(listed->size());
  for (const FileStatus& entry : *listed) out.push_back(Info(entry, ""));
  return out;
}

arrow::fs::FileInfoVector ArrowFileSystem::WithDirectories(const std::string& base,
                                                           const std::vector<FileStatus>& entries,
                                                           int max_recursion) const {
  const std::string prefix = base.empty() || base.ends_with('/') ? base : base + "/";
  std::map<std::string, FileInfo> found;
  for (const FileStatus& entry : entries) {
    FileInfo info = Info(entry, "");
    if (!info.path().starts_with(prefix)) continue;
    const std::string rel = info.path().substr(prefix.size());
    // Depth 0: directly inside base; Arrow descends max_recursion levels below it.
    int depth = 0;
    for (std::size_t slash = rel.find('/'); slash != std::string::npos;
         slash = rel.find('/', slash + 1)) {
      if (depth <= max_recursion) {
        const std::string dir = prefix + rel.substr(0, slash);
        found.try_emplace(dir, dir, FileType::Directory);
      }
      ++depth;
    }
    if (depth <= max_recursion) found.insert_or_assign(info.path(), std::move(info));
  }
  arrow::fs::FileInfoVector out;
  out.reserve(found.size());
  for (auto& [name, info] : found) out.push_back(std::move(info));
  return out;
}

arrow::Result<std::shared_ptr<arrow::io::RandomAccessFile>> ArrowFileSystem::OpenFile(
    const std::string& name, std::int64_t size) {
  return std::make_shared<InputFile>(client_, paths_.Uri(name), size, io_context_);
}

arrow::Result<std::shared_ptr<arrow::io::RandomAccessFile>> ArrowFileSystem::OpenInputFile(
    const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(std::string name, Name(path));
  const std::string uri = paths_.Uri(name);
  auto status = client_->Stat(uri);
  if (!status.ok()) return ToArrow(status.status());
  if (status->is_directory) {
    return arrow::internal::IOErrorFromErrno(EISDIR, "epochcache: cannot open ", uri,
                                             ": is a directory");
  }
  return OpenFile(name, static_cast<std::int64_t>(status->size));
}

arrow::Result<std::shared_ptr<arrow::io::RandomAccessFile>> ArrowFileSystem::OpenInputFile(
    const FileInfo& info) {
  // The caller's FileInfo (a listing's) saves the stat.
  if (info.type() != FileType::File || info.size() < 0) return OpenInputFile(info.path());
  ARROW_ASSIGN_OR_RAISE(std::string name, Name(info.path()));
  return OpenFile(name, info.size());
}

arrow::Result<std::shared_ptr<arrow::io::InputStream>> ArrowFileSystem::OpenInputStream(
    const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(auto file, OpenInputFile(path));
  return file;
}

arrow::Result<std::shared_ptr<arrow::io::InputStream>> ArrowFileSystem::OpenInputStream(
    const FileInfo& info) {
  ARROW_ASSIGN_OR_RAISE(auto file, OpenInputFile(info));
  return file;
}

arrow::Status ArrowFileSystem::CreateDir(const std::string& /*path*/, bool /*recursive*/) {
  return ReadOnly("CreateDir");
}
arrow::Status ArrowFileSystem::DeleteDir(const std::string& /*path*/) {
  return ReadOnly("DeleteDir");
}
arrow::Status ArrowFileSystem::DeleteDirContents(const std::string& /*path*/,
                                                 bool /*missing_dir_ok*/) {
  return ReadOnly("DeleteDirContents");
}
arrow::Status ArrowFileSystem::DeleteRootDirContents() { return ReadOnly("DeleteRootDirContents"); }
arrow::Status ArrowFileSystem::DeleteFile(const std::string& /*path*/) {
  return ReadOnly("DeleteFile");
}
arrow::Status ArrowFileSystem::Move(const std::string& /*src*/, const std::string& /*dest*/) {
  return ReadOnly("Move");
}
arrow::Status ArrowFileSystem::CopyFile(const std::string& /*src*/, const std::string& /*dest*/) {
  return ReadOnly("CopyFile");
}
arrow::Result<std::shared_ptr<arrow::io::OutputStream>> ArrowFileSystem::OpenOutputStream(
    const std::string& /*path*/,
    const std::shared_ptr<const arrow::KeyValueMetadata>& /*metadata*/) {
  return ReadOnly("OpenOutputStream");
}
arrow::Result<std::shared_ptr<arrow::io::OutputStream>> ArrowFileSystem::OpenAppendStream(
    const std::string& /*path*/,
    const std::shared_ptr<const arrow::KeyValueMetadata>& /*metadata*/) {
  return ReadOnly("OpenAppendStream");
}

}  // namespace epochcache::arrowfs
