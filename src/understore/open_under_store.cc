#include <fmt/format.h>

#include <memory>

#include "epochcache/under_store.h"
#include "understore/azure_under_store.h"
#include "understore/gcs_under_store.h"
#include "understore/hf_under_store.h"
#include "understore/http_under_store.h"
#include "understore/local_under_store.h"
#include "understore/s3_under_store.h"

namespace epochcache {

Result<std::unique_ptr<UnderStore>> OpenUnderStore(std::string_view root_uri,
                                                   const UnderStoreOptions& options) {
  if (root_uri.starts_with("file://") || root_uri.starts_with("/")) {
    EC_ASSIGN_OR_RETURN(auto local, LocalUnderStore::Open(root_uri));
    return std::unique_ptr<UnderStore>(std::move(local));
  }
  if (root_uri.starts_with("s3://") || root_uri.starts_with("s3a://")) {
    EC_ASSIGN_OR_RETURN(auto s3, S3UnderStore::Open(root_uri, options));
    return std::unique_ptr<UnderStore>(std::move(s3));
  }
  if (root_uri.starts_with("az://") || root_uri.starts_with("abfs://") ||
      root_uri.starts_with("abfss://")) {
    EC_ASSIGN_OR_RETURN(auto azure, AzureUnderStore::Open(root_uri, options));
    return std::unique_ptr<UnderStore>(std::move(azure));
  }
  if (root_uri.starts_with("gs://")) {
    EC_ASSIGN_OR_RETURN(auto gcs, GcsUnderStore::Open(root_uri, options));
    return std::unique_ptr<UnderStore>(std::move(gcs));
  }
  if (root_uri.starts_with("http://") || root_uri.starts_with("https://")) {
    EC_ASSIGN_OR_RETURN(auto http, HttpUnderStore::Open(root_uri, options));
    return std::unique_ptr<UnderStore>(std::move(http));
  }
  if (root_uri.starts_with("hf://")) {
    EC_ASSIGN_OR_RETURN(auto hf, HfUnderStore::Open(root_uri, options));
    return std::unique_ptr<UnderStore>(std::move(hf));
  }
  return Status::InvalidArgument(
      fmt::format("unsupported under-store URI '{}': expected file:///path, an absolute path, "
                  "s3://bucket[/prefix], az://container[/prefix] (or abfs://, abfss://), "
                  "gs://bucket[/prefix], hf://[datasets/|spaces/]namespace/name[@revision][/path] "
                  "or http(s)://host[/prefix]",
                  root_uri));
}

}  // namespace epochcache
