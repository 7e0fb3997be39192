#include <fmt/format.h>

#include <memory>

#include "epochcache/under_store.h"
#include "understore/local_under_store.h"
#include "understore/memory_under_store.h"

namespace epochcache {

Result<std::unique_ptr<UnderStore>> OpenUnderStore(std::string_view root_uri) {
  if (root_uri.starts_with("memory://"))
    return std::unique_ptr<UnderStore>(std::make_unique<MemoryUnderStore>());
  if (root_uri.starts_with("file://") || root_uri.starts_with("/")) {
    EC_ASSIGN_OR_RETURN(auto local, LocalUnderStore::Open(root_uri));
    return std::unique_ptr<UnderStore>(std::move(local));
  }
  return Status::InvalidArgument(fmt::format(
      "unsupported under-store URI '{}': expected file:///path or an absolute path", root_uri));
}

}  // namespace epochcache
