#include "understore/memory_under_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "common/path_rules.h"
#include "understore/list_paging.h"

namespace epochcache {
namespace {

// "/a/b/" → "/a/b", so "/a/b" and "/a/b/" name one directory.
std::string TrimSlash(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return std::string(path);
}

std::string DirPrefix(const std::string& dir) { return dir == "/" ? dir : dir + "/"; }

}  // namespace

void MemoryUnderStore::Put(const std::string& path, std::string contents) {
  std::lock_guard lock(mu_);
  objects_[path] = Object{std::move(contents), fmt::format("v{}", next_version_++)};
}

void MemoryUnderStore::Remove(const std::string& path) {
  std::lock_guard lock(mu_);
  objects_.erase(path);
}

void MemoryUnderStore::InjectFailure(Status status) {
  std::lock_guard lock(mu_);
  failure_ = std::move(status);
}

Result<FileStatus> MemoryUnderStore::Stat(std::string_view raw_path) {
  EC_RETURN_IF_ERROR(CheckUnderPath(raw_path));
  const std::string path = TrimSlash(raw_path);
  std::lock_guard lock(mu_);
  if (!failure_.ok()) return failure_;
  if (auto it = objects_.find(path); it != objects_.end()) {
    return FileStatus{path, false, it->second.contents.size(), 0, it->second.version};
  }
  const std::string prefix = DirPrefix(path);
  auto it = objects_.lower_bound(prefix);
  if (it != objects_.end() && it->first.starts_with(prefix)) {
    return FileStatus{path, true, 0, 0, ""};
  }
  return Status::NotFound(fmt::format("{} does not exist", path));
}

Result<ListPage> MemoryUnderStore::ListAfter(std::string_view raw_path, bool recursive,
                                             std::string_view start_after, std::size_t limit) {
  EC_RETURN_IF_ERROR(CheckUnderPath(raw_path));
  EC_RETURN_IF_ERROR(CheckListLimit(limit));
  const std::string path = TrimSlash(raw_path);
  const std::string prefix = DirPrefix(path);
  std::lock_guard lock(mu_);
  if (!failure_.ok()) return failure_;
  std::vector<FileStatus> out;
  std::set<std::string> subdirs;
  for (auto it = objects_.lower_bound(prefix);
       it != objects_.end() && it->first.starts_with(prefix); ++it) {
    const std::string_view rest = std::string_view(it->first).substr(prefix.size());
    const auto slash = rest.find('/');
    if (recursive || slash == std::string_view::npos) {
      out.push_back({it->first, false, it->second.contents.size(), 0, it->second.version});
    } else {
      subdirs.insert(prefix + std::string(rest.substr(0, slash)));
    }
  }
  if (out.empty() && subdirs.empty()) {
    if (objects_.contains(path)) {
      return Status::NotFound(fmt::format("{} is a file, not a directory", path));
    }
    return Status::NotFound(fmt::format("{} does not exist", path));
  }
  for (const auto& dir : subdirs) out.push_back({dir, true, 0, 0, ""});
  return SliceListing(std::move(out), start_after, limit);
}

Result<std::size_t> MemoryUnderStore::ReadRange(std::string_view raw_path, std::string_view version,
                                                std::uint64_t offset, std::span<std::byte> out) {
  EC_RETURN_IF_ERROR(CheckUnderPath(raw_path));
  const std::string path = TrimSlash(raw_path);
  std::lock_guard lock(mu_);
  if (!failure_.ok()) return failure_;
  auto it = objects_.find(path);
  if (it == objects_.end()) return Status::NotFound(fmt::format("{} does not exist", path));
  if (!version.empty() && version != it->second.version) {
    return Status::Changed(
        fmt::format("{} changed: version {} is now {}", path, version, it->second.version));
  }
  const std::string& data = it->second.contents;
  if (offset >= data.size()) return std::size_t{0};
  const std::size_t n = std::min<std::size_t>(out.size(), data.size() - offset);
  std::memcpy(out.data(), data.data() + offset, n);
  read_calls_.fetch_add(1);
  bytes_read_.fetch_add(n);
  return n;
}

}  // namespace epochcache
