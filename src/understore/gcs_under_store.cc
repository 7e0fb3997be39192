#include "understore/gcs_under_store.h"

#include <fmt/format.h>

#include <cstdlib>

#include "common/path_rules.h"
#include "understore/s3_under_store.h"

namespace epochcache {
namespace {

constexpr std::string_view kGs = "gs://";
constexpr std::string_view kS3 = "s3://";
constexpr std::string_view kEndpoint = "https://storage.googleapis.com";

std::string Env(const char* name) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read-only at start
  return v != nullptr ? std::string(v) : std::string();
}

// gs://b/k -> s3://b/k; anything else is refused before the S3 store sees it.
Result<std::string> ToS3(std::string_view path) {
  EC_RETURN_IF_ERROR(CheckUnderPath(path));
  if (!path.starts_with(kGs) || path.size() == kGs.size() || path[kGs.size()] == '/') {
    return Status::InvalidArgument(fmt::format("'{}' is not a gs://bucket/path URI", path));
  }
  return std::string(kS3) + std::string(path.substr(kGs.size()));
}

std::string ToGs(std::string text) {
  for (auto at = text.find(kS3); at != std::string::npos; at = text.find(kS3, at)) {
    text.replace(at, kS3.size(), kGs);
  }
  return text;
}

Status ToGs(const Status& status) { return {status.code(), ToGs(std::string(status.message()))}; }

}  // namespace

Result<UnderStoreOptions> GcsUnderStore::S3OptionsFor(const UnderStoreOptions& options) {
  UnderStoreOptions out = options;
  out.s3 = options.gcs;
  if (out.s3.access_key_id.empty() && !out.s3.anonymous) {
    out.s3.access_key_id = Env("GS_HMAC_ACCESS_KEY_ID");
    out.s3.secret_access_key = Env("GS_HMAC_SECRET");
  }
  if (out.s3.access_key_id.empty()) {
    out.s3.anonymous = true;  // never fall through to AWS's environment or profiles
  } else if (out.s3.secret_access_key.empty()) {
    return Status::InvalidArgument("a GCS HMAC access key id needs its secret (GS_HMAC_SECRET)");
  }
  out.s3.session_token.clear();
  out.s3.profile.clear();
  // STORAGE_EMULATOR_HOST is the variable Google's client libraries and gcsfs read for a
  // local stand-in ("http://127.0.0.1:4443" or "127.0.0.1:4443").
  if (out.s3.endpoint_url.empty()) out.s3.endpoint_url = Env("STORAGE_EMULATOR_HOST");
  if (!out.s3.endpoint_url.empty() && out.s3.endpoint_url.find("://") == std::string::npos) {
    out.s3.endpoint_url = "http://" + out.s3.endpoint_url;
  }
  if (out.s3.endpoint_url.empty()) out.s3.endpoint_url = std::string(kEndpoint);
  // GCS's XML API accepts any region name in a SigV4 scope; "auto" is the documented one.
  if (out.s3.region.empty()) out.s3.region = "auto";
  out.s3.addressing = "path";
  return out;
}

Result<std::unique_ptr<GcsUnderStore>> GcsUnderStore::Open(std::string_view root_uri,
                                                           const UnderStoreOptions& options) {
  EC_ASSIGN_OR_RETURN(std::string s3_root, ToS3(root_uri));
  EC_ASSIGN_OR_RETURN(UnderStoreOptions s3_options, S3OptionsFor(options));
  auto s3 = S3UnderStore::Open(s3_root, s3_options);
  if (!s3.ok()) return ToGs(s3.status());
  return std::unique_ptr<GcsUnderStore>(new GcsUnderStore(std::move(s3).value()));
}

Result<FileStatus> GcsUnderStore::Stat(std::string_view path) {
  EC_ASSIGN_OR_RETURN(std::string s3_path, ToS3(path));
  auto st = s3_->Stat(s3_path);
  if (!st.ok()) return ToGs(st.status());
  st->path = ToGs(std::move(st->path));
  return st;
}

Result<ListPage> GcsUnderStore::ListAfter(std::string_view path, bool recursive,
                                          std::string_view start_after, std::size_t limit) {
  EC_ASSIGN_OR_RETURN(std::string s3_path, ToS3(path));
  // Paths sort alike under either scheme (same bucket, same keys), so start_after maps over.
  std::string s3_start;
  if (start_after.starts_with(kGs)) {
    s3_start = std::string(kS3) + std::string(start_after.substr(kGs.size()));
  } else if (!start_after.empty() && start_after > kGs) {
    return ListPage{};  // after every gs:// path
  }
  auto page = s3_->ListAfter(s3_path, recursive, s3_start, limit);
  if (!page.ok()) return ToGs(page.status());
  for (auto& entry : page->entries) entry.path = ToGs(std::move(entry.path));
  return page;
}

Result<std::size_t> GcsUnderStore::ReadRange(std::string_view path, std::string_view version,
                                             std::uint64_t offset, std::span<std::byte> out) {
  EC_ASSIGN_OR_RETURN(std::string s3_path, ToS3(path));
  auto n = s3_->ReadRange(s3_path, version, offset, out);
  if (!n.ok()) return ToGs(n.status());
  return n;
}

}  // namespace epochcache
