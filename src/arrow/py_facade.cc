#include "arrow/py_facade.h"

#include <utility>

namespace epochcache::arrowfs {

PyFacade::PyFacade(PyObject* handler, std::shared_ptr<arrow::fs::FileSystem> inner)
    : arrow::py::fs::PyFileSystem(handler, arrow::py::fs::PyFileSystemVtable{}),
      inner_(std::move(inner)) {
  // A stat is a network round trip: the async variants run it on the IO executor.
  default_async_is_sync_ = false;
}

bool PyFacade::Equals(const arrow::fs::FileSystem& other) const {
  if (this == &other) return true;
  const auto* facade = dynamic_cast<const PyFacade*>(&other);
  return facade != nullptr ? inner_->Equals(*facade->inner_) : inner_->Equals(other);
}

arrow::Result<std::string> PyFacade::NormalizePath(std::string path) {
  return inner_->NormalizePath(std::move(path));
}
arrow::Result<std::string> PyFacade::PathFromUri(const std::string& uri_string) const {
  return inner_->PathFromUri(uri_string);
}
arrow::Result<arrow::fs::FileInfo> PyFacade::GetFileInfo(const std::string& path) {
  return inner_->GetFileInfo(path);
}
arrow::Result<arrow::fs::FileInfoVector> PyFacade::GetFileInfo(
    const std::vector<std::string>& paths) {
  return inner_->GetFileInfo(paths);
}
arrow::Result<arrow::fs::FileInfoVector> PyFacade::GetFileInfo(
    const arrow::fs::FileSelector& select) {
  return inner_->GetFileInfo(select);
}
arrow::Result<std::shared_ptr<arrow::io::InputStream>> PyFacade::OpenInputStream(
    const std::string& path) {
  return inner_->OpenInputStream(path);
}
arrow::Result<std::shared_ptr<arrow::io::InputStream>> PyFacade::OpenInputStream(
    const arrow::fs::FileInfo& info) {
  return inner_->OpenInputStream(info);
}
arrow::Result<std::shared_ptr<arrow::io::RandomAccessFile>> PyFacade::OpenInputFile(
    const std::string& path) {
  return inner_->OpenInputFile(path);
}
arrow::Result<std::shared_ptr<arrow::io::RandomAccessFile>> PyFacade::OpenInputFile(
    const arrow::fs::FileInfo& info) {
  return inner_->OpenInputFile(info);
}
arrow::Status PyFacade::CreateDir(const std::string& path, bool recursive) {
  return inner_->CreateDir(path, recursive);
}
arrow::Status PyFacade::DeleteDir(const std::string& path) { return inner_->DeleteDir(path); }
arrow::Status PyFacade::DeleteDirContents(const std::string& path, bool missing_dir_ok) {
  return inner_->DeleteDirContents(path, missing_dir_ok);
}
arrow::Status PyFacade::DeleteRootDirContents() { return inner_->DeleteRootDirContents(); }
arrow::Status PyFacade::DeleteFile(const std::string& path) { return inner_->DeleteFile(path); }
arrow::Status PyFacade::Move(const std::string& src, const std::string& dest) {
  return inner_->Move(src, dest);
}
arrow::Status PyFacade::CopyFile(const std::string& src, const std::string& dest) {
  return inner_->CopyFile(src, dest);
}
arrow::Result<std::shared_ptr<arrow::io::OutputStream>> PyFacade::OpenOutputStream(
    const std::string& path, const std::shared_ptr<const arrow::KeyValueMetadata>& metadata) {
  return inner_->OpenOutputStream(path, metadata);
}
arrow::Result<std::shared_ptr<arrow::io::OutputStream>> PyFacade::OpenAppendStream(
    const std::string& path, const std::shared_ptr<const arrow::KeyValueMetadata>& metadata) {
  return inner_->OpenAppendStream(path, metadata);
}

std::shared_ptr<arrow::fs::FileSystem> MakePyFacade(PyObject* handler,
                                                    std::shared_ptr<arrow::fs::FileSystem> inner) {
  return std::make_shared<PyFacade>(handler, std::move(inner));
}

}  // namespace epochcache::arrowfs
