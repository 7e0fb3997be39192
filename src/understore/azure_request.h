// Azure Blob requests: az:// / abfs:// URI parsing, connection strings, and Shared Key
// signing (the string-to-sign of the Blob service, HMAC-SHA256 with OpenSSL).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "epochcache/status.h"

namespace epochcache {

struct AzureLocation {
  std::string container;
  std::string blob;  // may be empty (the container itself)
};

struct AzureUri {
  std::string scheme;   // "az", "abfs" or "abfss", as written
  std::string account;  // from "abfs://container@ACCOUNT.dfs.core.windows.net/..."; else empty
  AzureLocation location;
};

// "az://container/a/b", "abfs://container/a/b", "abfss://..." and adlfs's fully qualified
// "abfs[s]://container@account.dfs.core.windows.net/a/b" (or ".blob."). InvalidArgument for
// anything else.
Result<AzureUri> ParseAzureUri(std::string_view uri);

// The parts of an Azure Storage connection string the Blob service uses.
struct AzureConnectionString {
  std::string account_name;
  std::string account_key;
  std::string sas_token;
  std::string blob_endpoint;
  std::string protocol = "https";  // DefaultEndpointsProtocol
  std::string endpoint_suffix = "core.windows.net";
};

// "AccountName=a;AccountKey=k;BlobEndpoint=http://...;SharedAccessSignature=sv=..." (keys are
// case-insensitive, values may contain '='), or "UseDevelopmentStorage=true" for Azurite's
// well-known account. InvalidArgument for a malformed pair; messages name keys, never values.
Result<AzureConnectionString> ParseAzureConnectionString(std::string_view text);

// What Shared Key signs of one request (Blob service, version 2009-09-19 and later).
struct AzureSignInput {
  std::string method;    // GET, HEAD
  std::string if_match;  // the If-Match header's value as sent, or empty
  // x-ms-* headers: names are lower-cased and sorted for signing.
  std::vector<std::pair<std::string, std::string>> ms_headers;
  std::string account;
  std::string url_path;  // the request URL's path, as sent (percent-encoded)
  // Query parameters, not encoded.
  std::vector<std::pair<std::string, std::string>> query;
};

// The string-to-sign: VERB, eleven standard headers (only If-Match is ever set here; the
// range goes in x-ms-range), the canonicalized x-ms-* headers and the canonicalized resource.
std::string SharedKeyStringToSign(const AzureSignInput& input);

// Base64 of HMAC-SHA256(base64-decoded `account_key`, `string_to_sign`). InvalidArgument when
// the key is not base64 (the message never shows the key).
Result<std::string> SharedKeySignature(std::string_view account_key,
                                       std::string_view string_to_sign);

// The current time as an RFC 1123 date ("Mon, 30 Nov 2026 20:09:54 GMT") for x-ms-date.
std::string AzureDateNow();

}  // namespace epochcache
