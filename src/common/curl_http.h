// A small blocking HTTP client on libcurl for the remote under stores (S3, HTTP).
//
// libcurl does the protocol work: TLS, keep-alive and AWS SigV4 signing (CURLOPT_AWS_SIGV4).
// Easy handles are pooled, so their connections are reused across calls.
//
// What is sent is exactly what the caller built: libcurl never follows a redirect here (a 3xx
// is returned like any other answer, its body never written to `body_out`), never collapses
// "/../" or "/./" (CURLOPT_PATH_AS_IS), and after each request the URL libcurl reports having
// fetched is compared with the one asked for (scheme, host, port, path, query); any difference
// fails the request. Callers that follow redirects do it themselves, one checked hop at a time,
// deciding per hop which credentials may go along.
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
  // HTTP Basic credentials (already percent-decoded), sent only when `username` is not empty.
  std::string username;
  std::string password;
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

  // Performs one request (no retries, no redirects). On a transport failure returns Unavailable
  // or Timeout and sets *transport (if given) to say which; the message names the URL's host,
  // never the credentials. PermissionDenied if libcurl fetched another URL than the one given.
  Result<HttpResponse> Perform(const HttpRequest& request, TransportError* transport = nullptr);

 private:
  void* Borrow();
  void Return(void* handle);

  std::mutex mu_;
  std::vector<void*> idle_;  // CURL* handles; GUARDED_BY(mu_)
};

// The one percent coding of the code base (RFC 3986), here in the lowest layer so that the
// under stores and the worker protocol (src/protocol/percent.h) share it.
//
// AwsUriEncode: unreserved characters (A-Z a-z 0-9 - _ . ~) stay, every other byte becomes %XX
// (upper-case hex); '/' stays only when `keep_slash`. This is SigV4's encoding, and a query
// component's.
std::string AwsUriEncode(std::string_view s, bool keep_slash);

// Decodes %XX escapes (either hex case), once: "%252e" is the three characters "%2e", never
// ".". '+' is a literal plus (not form encoding). "%00" and other escaped control characters
// decode as they are; callers that take paths check them afterwards (CheckUnderPath).
// InvalidArgument on a truncated or non-hex escape.
Result<std::string> PercentDecode(std::string_view s);

// `url` with any userinfo ("user:pass@") replaced by "***@", for every message and log line
// that shows a URL which may carry credentials.
std::string RedactUserinfo(std::string_view url);
// `url` without its userinfo ("http://user:pass@host/x" → "http://host/x"), for a URL kept to
// be shown later.
std::string WithoutUserinfo(std::string_view url);

// The parts of an absolute http(s) URL that decide where a request goes, as libcurl parses it.
struct UrlParts {
  std::string scheme;    // lower case
  std::string host;      // lower case
  std::string port;      // explicit or the scheme's default
  std::string path;      // exactly as written (never dot-collapsed)
  std::string query;     // without '?'
  std::string user;      // percent-decoded userinfo, empty if none
  std::string password;  // percent-decoded

  // "scheme://host:port": same origin = same credentials scope.
  [[nodiscard]] std::string Origin() const { return scheme + "://" + host + ":" + port; }
};

// Parses an absolute URL with libcurl's parser (no dot-segment removal). InvalidArgument for
// anything libcurl cannot parse or that is not http/https; the message never shows userinfo.
Result<UrlParts> ParseHttpUrl(std::string_view url);

// Resolves a redirect's Location against the URL it answered (relative or absolute).
Result<std::string> ResolveRedirect(std::string_view base_url, std::string_view location);

}  // namespace epochcache
