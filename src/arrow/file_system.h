// epochcache as a native arrow::fs::FileSystem over the native client: stat, listings with a
// FileSelector, and input files whose reads land in Arrow buffers straight from the workers
// (see input_file.h). Read-only: every write, delete, move and copy is refused with
// NotImplemented ("epochcache is a read-only filesystem"). Failover between workers and the
// direct reads of the under store are the client's (include/epochcache/client.h).
//
// Errors keep their meaning across pyarrow (status_map.h): a missing path raises
// FileNotFoundError, a refusal PermissionError, a path of another scheme ValueError.
#pragma once

#include <arrow/filesystem/filesystem.h>

#include <memory>
#include <string>
#include <vector>

#include "arrow/target_paths.h"
#include "epochcache/client.h"

namespace epochcache::arrowfs {

class ArrowFileSystem final : public arrow::fs::FileSystem {
 public:
  // Creates the native client. `target_protocol` is the under store's scheme (aliases allowed).
  static arrow::Result<std::shared_ptr<ArrowFileSystem>> Make(
      std::string_view target_protocol, ClientOptions options,
      const arrow::io::IOContext& io_context = arrow::io::default_io_context());

  ArrowFileSystem(TargetPaths paths, std::shared_ptr<Client> client, std::string identity,
                  const arrow::io::IOContext& io_context);

  [[nodiscard]] std::string type_name() const override { return "epochcache"; }
  [[nodiscard]] bool Equals(const arrow::fs::FileSystem& other) const override;
  arrow::Result<std::string> NormalizePath(std::string path) override;
  [[nodiscard]] arrow::Result<std::string> PathFromUri(
      const std::string& uri_string) const override;

  using arrow::fs::FileSystem::GetFileInfo;
  arrow::Result<arrow::fs::FileInfo> GetFileInfo(const std::string& path) override;
  arrow::Result<arrow::fs::FileInfoVector> GetFileInfo(
      const arrow::fs::FileSelector& select) override;

  using arrow::fs::FileSystem::OpenInputFile;
  using arrow::fs::FileSystem::OpenInputStream;
  arrow::Result<std::shared_ptr<arrow::io::InputStream>> OpenInputStream(
      const std::string& path) override;
  arrow::Result<std::shared_ptr<arrow::io::InputStream>> OpenInputStream(
      const arrow::fs::FileInfo& info) override;
  arrow::Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenInputFile(
      const std::string& path) override;
  arrow::Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenInputFile(
      const arrow::fs::FileInfo& info) override;

  arrow::Status CreateDir(const std::string& path, bool recursive) override;
  arrow::Status DeleteDir(const std::string& path) override;
  arrow::Status DeleteDirContents(const std::string& path, bool missing_dir_ok) override;
  arrow::Status DeleteRootDirContents() override;
  arrow::Status DeleteFile(const std::string& path) override;
  arrow::Status Move(const std::string& src, const std::string& dest) override;
  arrow::Status CopyFile(const std::string& src, const std::string& dest) override;
  arrow::Result<std::shared_ptr<arrow::io::OutputStream>> OpenOutputStream(
      const std::string& path,
      const std::shared_ptr<const arrow::KeyValueMetadata>& metadata) override;
  arrow::Result<std::shared_ptr<arrow::io::OutputStream>> OpenAppendStream(
      const std::string& path,
      const std::shared_ptr<const arrow::KeyValueMetadata>& metadata) override;

  [[nodiscard]] const TargetPaths& paths() const { return paths_; }
  [[nodiscard]] Client& client() const { return *client_; }

 private:
  [[nodiscard]] arrow::Result<std::string> Name(const std::string& path) const;
  arrow::fs::FileInfo Info(const FileStatus& status, std::string fallback_name) const;
  // The recursive listing names files only: their directories are added, as Arrow lists them.
  arrow::fs::FileInfoVector WithDirectories(const std::string& base,
                                            const std::vector<FileStatus>& entries,
                                            int max_recursion) const;
  arrow::Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenFile(const std::string& name,
                                                                       std::int64_t size);

  TargetPaths paths_;
  std::shared_ptr<Client> client_;
  std::string identity_;  // target and workers, no secrets: what Equals compares
};

// Registers the "epochcache" scheme for arrow::fs::FileSystemFromUri (uri_factory.cc):
// "epochcache://bucket/key?target_protocol=s3&worker_hosts=h:p,h:p". Idempotent.
arrow::Status RegisterScheme();

}  // namespace epochcache::arrowfs
