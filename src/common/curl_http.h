// A small blocking HTTP client on libcurl for the remote under stores (S3, HTTP).
//
// libcurl does the protocol work: TLS, redirects, keep-alive and AWS SigV4 signing
// (CURLOPT_AWS_SIGV4). Easy handles are pooled, so their connections are reused across calls.
//
// Thread-safety: Perform may be called from many threads at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "epochcache/status.h"

namespace epochcache {

struct HttpRequest {
  std::string method = "GET";  // GET, HEAD or POST
  std::string post_body;       // sent with POST
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  // When set, curl signs the request with AWS SigV4: provider string "aws:amz:REGION:SERVICE"
  // and credentials "ACCESS_KEY:SECRET_KEY".
  std::string aws_sigv4;
  std::string aws_credentials;
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds timeout{30000};
  // When not empty, the response body is written here (at most its size; more is an error),
  // otherwise it is collected in HttpResponse::body.
  std::span<std::byte> body_out;
};

struct HttpResponse {
  long status = 0;                             // NOLINT(google-runtime-int): curl's type
  std::map<std::string, std::string> headers;  // names lower-cased; the last value wins
  std::string body;                            // when the request had no body_out
  std::size_t body_bytes = 0;                  // bytes received
};

// Transport outcome of a request that got no HTTP answer: the caller decides whether to retry.
enum class TransportError { kNone, kConnect, kTimeout, kReset, kOverflow, kOther };

class CurlHttp {
 public:
  CurlHttp();
  ~CurlHttp();
  CurlHttp(const CurlHttp&) = delete;
  CurlHttp& operator=(const CurlHttp&) = delete;

  // Performs one request (no retries). On a transport failure returns Unavailable or Timeout
  // and sets *transport (if given) to say which; the message names the URL's host, never the
  // credentials.
  Result<HttpResponse> Perform(const HttpRequest& request, TransportError* transport = nullptr);

 private:
  void* Borrow();
  void Return(void* handle);

  std::mutex mu_;
  std::vector<void*> idle_;  // CURL* handles; GUARDED_BY(mu_)
};

// Percent-encodes `s` the way AWS SigV4 wants: unreserved characters (A-Z a-z 0-9 - _ . ~)
// stay, everything else becomes %XX (upper-case hex); '/' stays only when `keep_slash`.
std::string AwsUriEncode(std::string_view s, bool keep_slash);

// Decodes %XX escapes (and nothing else). InvalidArgument on a malformed escape.
Result<std::string> PercentDecode(std::string_view s);

}  // namespace epochcache
