// The GCS under store (gs://bucket/path): Google Cloud Storage's XML API, which speaks S3's
// protocol, through the S3 store with HMAC keys (SigV4). Paths and messages say gs://; the
// S3 store underneath sees s3:// with the same bucket and key.
//
// Credentials are GCS HMAC keys only (options, else GS_HMAC_ACCESS_KEY_ID / GS_HMAC_SECRET);
// without them requests go unsigned. The endpoint is https://storage.googleapis.com unless the
// options or STORAGE_EMULATOR_HOST name another. AWS credentials and profiles are never used: they
// must not be sent to another provider's endpoint.
#pragma once

#include <memory>

#include "epochcache/under_store.h"

namespace epochcache {

class GcsUnderStore final : public UnderStore {
 public:
  static Result<std::unique_ptr<GcsUnderStore>> Open(std::string_view root_uri,
                                                     const UnderStoreOptions& options);

  [[nodiscard]] std::string_view Scheme() const override { return "gcs"; }
  Result<FileStatus> Stat(std::string_view path) override;
  Result<std::vector<FileStatus>> List(std::string_view path, bool recursive) override {
    return ListAllPages(path, recursive);
  }
  Result<ListPage> ListAfter(std::string_view path, bool recursive, std::string_view start_after,
                             std::size_t limit) override;
  Result<std::size_t> ReadRange(std::string_view path, std::string_view version,
                                std::uint64_t offset, std::span<std::byte> out) override;

  // The S3 options the XML API is reached with (secrets included; for tests).
  static Result<UnderStoreOptions> S3OptionsFor(const UnderStoreOptions& options);

 private:
  explicit GcsUnderStore(std::unique_ptr<UnderStore> s3) : s3_(std::move(s3)) {}

  std::unique_ptr<UnderStore> s3_;
};

}  // namespace epochcache
