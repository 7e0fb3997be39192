// The "epochcache" scheme for arrow::fs::FileSystemFromUri: C++ callers (and anything in Arrow
// that resolves a URI itself) get the filesystem from
//   epochcache:///data/x?worker_hosts=h:p,h:p                 (file target, the default)
//   epochcache://bucket/key?target_protocol=s3&etcd_hosts=h:p
// Every other query item is a client option (client_options.h). The token is never taken from
// a URI (URIs end up in logs): it comes from EPOCHCACHE_AUTH_TOKEN, and the workers from
// EPOCHCACHE_WORKER_HOSTS / EPOCHCACHE_ETCD_HOSTS when the URI names none. The under store is
// read directly when no worker can serve, with this process's own credentials.
#include <arrow/util/uri.h>

#include <cstdlib>
#include <mutex>
#include <string>

#include "arrow/client_options.h"
#include "arrow/file_system.h"
#include "arrow/status_map.h"

namespace epochcache::arrowfs {
namespace {

std::string Env(const char* name) {
  const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read-only use
  return value == nullptr ? std::string() : std::string(value);
}

arrow::Result<std::shared_ptr<arrow::fs::FileSystem>> FromUri(const arrow::util::Uri& uri,
                                                              const arrow::io::IOContext& context,
                                                              std::string* out_path) {
  ARROW_ASSIGN_OR_RAISE(auto items, uri.query_items());
  std::string protocol = "file";
  ClientOptions options;
  for (const auto& [name, value] : items) {
    if (name == "target_protocol") {
      protocol = value;
    } else if (name == "auth_token" || name.starts_with("s3_secret") ||
               name == "s3_session_token") {
      return arrow::Status::Invalid("epochcache: ", name,
                                    " cannot be given in a URI; set EPOCHCACHE_AUTH_TOKEN or "
                                    "use epochcache.arrow.EpochCacheArrowFileSystem");
    } else {
      ARROW_RETURN_NOT_OK(ToArrow(SetClientOption(options, name, value)));
    }
  }
  if (options.worker_hosts.empty() && options.etcd_endpoints.empty()) {
    ARROW_RETURN_NOT_OK(
        ToArrow(SetClientOption(options, "worker_hosts", Env("EPOCHCACHE_WORKER_HOSTS"))));
    if (options.worker_hosts.empty()) {
      ARROW_RETURN_NOT_OK(
          ToArrow(SetClientOption(options, "etcd_endpoints", Env("EPOCHCACHE_ETCD_HOSTS"))));
    }
  }
  if (options.worker_hosts.empty() && options.etcd_endpoints.empty()) {
    return arrow::Status::Invalid(
        "epochcache: no workers given; add worker_hosts=host:port,... or etcd_hosts=host:2379 "
        "to the URI (or set EPOCHCACHE_WORKER_HOSTS / EPOCHCACHE_ETCD_HOSTS)");
  }
  options.auth_token = Env("EPOCHCACHE_AUTH_TOKEN");
  auto canonical = CanonicalProtocol(protocol);
  if (!canonical.ok()) return ToArrow(canonical.status());
  if (options.fallback_under_store.empty()) {
    if (*canonical == "file") {
      options.fallback_under_store = "/";
    } else if (*canonical == "s3" || *canonical == "http" || *canonical == "https") {
      options.fallback_under_store = *canonical + "://";
    }
  }
  FinishClientOptions(options);
  ARROW_ASSIGN_OR_RAISE(auto fs, ArrowFileSystem::Make(*canonical, std::move(options), context));
  if (out_path != nullptr) {
    ARROW_ASSIGN_OR_RAISE(*out_path, fs->PathFromUri(uri.ToString()));
  }
  return fs;
}

}  // namespace

arrow::Status RegisterScheme() {
  static std::once_flag once;
  static arrow::Status result;
  std::call_once(once, [] {
    result = arrow::fs::RegisterFileSystemFactory(
        "epochcache", arrow::fs::FileSystemFactory{FromUri, __FILE__, __LINE__});
  });
  return result;
}

}  // namespace epochcache::arrowfs
