#include "understore/immutable_status.h"

#include <string>
#include <string_view>

#include "understore/hf_api.h"
#include "understore/hf_path.h"

namespace epochcache {

bool IsImmutableStatus(const FileStatus& status) {
  if (status.is_directory || !status.path.starts_with("hf://")) return false;
  auto location = ParseHfUri(status.path);
  if (!location.ok() || !IsHfCommit(location->revision)) return false;
  // The version is "hf:<commit>" or "hf:<commit>:<oid>" (hf_under_store.cc).
  const std::string prefix = "hf:" + location->revision;
  const std::string_view version = status.version;
  return version == prefix || version.starts_with(prefix + ":");
}

}  // namespace epochcache
