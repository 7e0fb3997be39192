// What the Python module hands to pyarrow. pyarrow turns a C++ filesystem back into a Python
// object only for the classes it knows (pyarrow/_fs.pyx FileSystem.wrap: its own, and
// arrow::py::fs::PyFileSystem, whose type_name starts with "py::"), and it does so on common
// paths: pq.read_table asks a dataset fragment for its .filesystem. Any other C++ filesystem
// there is "TypeError: Cannot wrap FileSystem pointer".
//
// So the native filesystem goes to pyarrow inside this facade: a PyFileSystem subclass that
// forwards every call to the ArrowFileSystem (no Python, no GIL). Its Python handler is used
// only by what pyarrow builds when it wraps the facade back as a plain PyFileSystem: that
// object's `.handler`, and its pickle, which rebuilds the filesystem from its options in the
// receiving process (python/epochcache/arrow.py, _Handler).
//
// Compiled into the Python module only: it needs Python and libarrow_python.
#pragma once

#include <Python.h>
#include <arrow/filesystem/filesystem.h>
#include <arrow/python/filesystem.h>

#include <memory>
#include <string>
#include <vector>

namespace epochcache::arrowfs {

class PyFacade final : public arrow::py::fs::PyFileSystem {
 public:
  // REQUIRES: the GIL is held (the handler's reference count is taken).
  PyFacade(PyObject* handler, std::shared_ptr<arrow::fs::FileSystem> inner);

  [[nodiscard]] const std::shared_ptr<arrow::fs::FileSystem>& inner() const { return inner_; }

  [[nodiscard]] std::string type_name() const override { return "py::epochcache"; }
  [[nodiscard]] bool Equals(const arrow::fs::FileSystem& other) const override;
  arrow::Result<std::string> NormalizePath(std::string path) override;
  [[nodiscard]] arrow::Result<std::string> PathFromUri(
      const std::string& uri_string) const override;

  using arrow::fs::FileSystem::GetFileInfo;
  arrow::Result<arrow::fs::FileInfo> GetFileInfo(const std::string& path) override;
  arrow::Result<arrow::fs::FileInfoVector> GetFileInfo(
      const std::vector<std::string>& paths) override;
  arrow::Result<arrow::fs::FileInfoVector> GetFileInfo(
      const arrow::fs::FileSelector& select) override;

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

 private:
  std::shared_ptr<arrow::fs::FileSystem> inner_;
};

// The facade as the shared_ptr pyarrow's FileSystem.init() takes.
std::shared_ptr<arrow::fs::FileSystem> MakePyFacade(PyObject* handler,
                                                    std::shared_ptr<arrow::fs::FileSystem> inner);

}  // namespace epochcache::arrowfs
