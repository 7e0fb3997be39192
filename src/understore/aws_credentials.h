// Resolves AWS credentials and region the way the AWS CLI and SDKs do, so workers reuse what an
// operator already has: explicit options, then environment variables, then the shared
// credentials and config files (~/.aws/credentials, ~/.aws/config) for the selected profile.
#pragma once

#include <string>

#include "epochcache/status.h"
#include "epochcache/under_store.h"

namespace epochcache {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  std::string region;
  std::string source;  // "options", "environment", "profile NAME", or "anonymous" (for logs)

  [[nodiscard]] bool anonymous() const { return access_key_id.empty(); }
};

// Never fails for missing credentials: with none found, requests go unsigned (anonymous), and
// the store's answer (403) says so. Fails only for an unreadable or malformed file that was
// explicitly named by AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE.
Result<AwsCredentials> ResolveAwsCredentials(const S3Options& options);

}  // namespace epochcache
