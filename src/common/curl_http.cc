#include "common/curl_http.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>

namespace epochcache {
namespace {

// curl_global_init must run once before any thread uses curl.
struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

void EnsureCurlGlobal() { static const CurlGlobal kOnce; }

struct Sink {
  CURL* curl;
  HttpResponse* response;
  std::span<std::byte> out;
  bool overflow = false;
};

std::size_t OnBody(char* data, std::size_t size, std::size_t nmemb, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const std::size_t n = size * nmemb;
  long status = 0;  // NOLINT(google-runtime-int): curl's type
  curl_easy_getinfo(sink->curl, CURLINFO_RESPONSE_CODE, &status);
  // Only a success body lands in the caller's buffer; an error document is kept for parsing.
  if (sink->out.empty() || status < 200 || status >= 300) {
    sink->response->body.append(data, n);
  } else {
    const std::size_t at = sink->response->body_bytes;
    if (at + n > sink->out.size()) {
      sink->overflow = true;
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    std::memcpy(sink->out.data() + at, data, n);
  }
  sink->response->body_bytes += n;
  return n;
}

std::size_t OnHeader(char* data, std::size_t size, std::size_t nitems, void* user) {
  auto* response = static_cast<HttpResponse*>(user);
  const std::size_t n = size * nitems;
  const std::string_view line(data, n);
  const auto colon = line.find(':');
  if (line.starts_with("HTTP/")) {
    response->headers.clear();  // a new response (after a redirect or 100-continue)
  } else if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    while (!value.empty() &&
           (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
      value.remove_suffix(1);
    }
    response->headers[name] = std::string(value);
  }
  return n;
}

// "https://user@host:9000/path?q" → "host:9000", for messages that must not leak secrets.
std::string HostOf(const std::string& url) {
  std::string_view u = url;
  if (auto p = u.find("://"); p != std::string_view::npos) u.remove_prefix(p + 3);
  u = u.substr(0, u.find_first_of("/?#"));
  if (auto at = u.rfind('@'); at != std::string_view::npos) u.remove_prefix(at + 1);
  return std::string(u);
}

struct CurlUrlFree {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
using CurlUrl = std::unique_ptr<CURLU, CurlUrlFree>;

// One part of a parsed URL; empty when the URL has no such part.
std::string UrlPart(CURLU* u, CURLUPart part, unsigned int flags = 0) {
  char* text = nullptr;
  if (curl_url_get(u, part, &text, flags) != CURLUE_OK || text == nullptr) return {};
  std::string out(text);
  curl_free(text);
  return out;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Fails unless libcurl fetched exactly the URL it was given.
Status CheckEffectiveUrl(CURL* curl, const std::string& asked) {
  char* effective = nullptr;
  curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &effective);
  if (effective == nullptr) {
    return Status::PermissionDenied(
        fmt::format("{}: cannot tell which URL was fetched", RedactUserinfo(asked)));
  }
  auto want = ParseHttpUrl(asked);
  auto got = ParseHttpUrl(effective);
  if (!want.ok() || !got.ok() || want->Origin() != got->Origin() || want->path != got->path ||
      want->query != got->query) {
    return Status::PermissionDenied(fmt::format("asked for {} but the request went to {}",
                                                RedactUserinfo(asked), RedactUserinfo(effective)));
  }
  return Status::Ok();
}

TransportError Classify(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return TransportError::kConnect;
    case CURLE_OPERATION_TIMEDOUT:
      return TransportError::kTimeout;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
      return TransportError::kReset;
    default:
      return TransportError::kOther;
  }
}

}  // namespace

CurlHttp::CurlHttp() { EnsureCurlGlobal(); }

CurlHttp::~CurlHttp() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* CurlHttp::Borrow() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      return h;
    }
  }
  return curl_easy_init();
}

void CurlHttp::Return(void* handle) {
  // A reset handle keeps its connection cache: the next request reuses the connection.
  curl_easy_reset(static_cast<CURL*>(handle));
  std::lock_guard lock(mu_);
  idle_.push_back(handle);
}

Result<HttpResponse> CurlHttp::Perform(const HttpRequest& request, TransportError* transport) {
  if (transport != nullptr) *transport = TransportError::kNone;
  CURL* curl = static_cast<CURL*>(Borrow());
  if (curl == nullptr) return Status::Internal("curl_easy_init failed");
  HttpResponse response;
  Sink sink{curl, &response, request.body_out};
  curl_slist* headers = nullptr;
  for (const auto& h : request.headers) headers = curl_slist_append(headers, h.c_str());
  // No "Expect:" override here: curl's SigV4 would sign the suppressed header it never sends.
  char error_buffer[CURL_ERROR_SIZE] = {};

  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  if (request.method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  if (request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.post_body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.post_body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  // Send the path exactly as checked, and never go anywhere else on our credentials.
  curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(
      curl, CURLOPT_CONNECTTIMEOUT_MS,
      static_cast<long>(request.connect_timeout.count()));  // NOLINT(google-runtime-int)
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(request.timeout.count()));  // NOLINT(google-runtime-int)
  if (!request.aws_sigv4.empty()) {
    curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, request.aws_sigv4.c_str());
    curl_easy_setopt(curl, CURLOPT_USERPWD, request.aws_credentials.c_str());
  } else if (!request.username.empty()) {
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(curl, CURLOPT_USERNAME, request.username.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, request.password.c_str());
  }

  const CURLcode code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  const Status where = CheckEffectiveUrl(curl, request.url);
  curl_slist_free_all(headers);
  Return(curl);
  if (!where.ok()) {
    if (transport != nullptr) *transport = TransportError::kOther;
    return where;
  }

  if (sink.overflow) {
    if (transport != nullptr) *transport = TransportError::kOverflow;
    return Status::IoError(fmt::format("{} sent more bytes than were asked for (status {})",
                                       HostOf(request.url), response.status));
  }
  if (code != CURLE_OK) {
    const TransportError kind = Classify(code);
    if (transport != nullptr) *transport = kind;
    const std::string what = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
    const std::string msg = fmt::format("{}: {}", HostOf(request.url), what);
    if (kind == TransportError::kTimeout) return Status::Timeout(msg);
    return Status::Unavailable(msg);
  }
  return response;
}

namespace {

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string AwsUriEncode(std::string_view s, bool keep_slash) {
  static constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

Result<std::string> PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) {
      return Status::InvalidArgument("truncated percent-escape in '" + std::string(s) + "'");
    }
    const int hi = HexValue(s[i + 1]);
    const int lo = HexValue(s[i + 2]);
    if (hi < 0 || lo < 0) {
      return Status::InvalidArgument("bad percent-escape in '" + std::string(s) + "'");
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

namespace {

// `url` with its "user:pass@" part, if any, replaced by `replacement`.
std::string ReplaceUserinfo(std::string_view url, std::string_view replacement) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  const std::size_t start = scheme_end + 3;
  const std::size_t end = std::min(url.find_first_of("/?#", start), url.size());
  const auto at = url.substr(start, end - start).rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  return fmt::format("{}{}{}", url.substr(0, start), replacement, url.substr(start + at + 1));
}

}  // namespace

std::string RedactUserinfo(std::string_view url) { return ReplaceUserinfo(url, "***@"); }

std::string WithoutUserinfo(std::string_view url) { return ReplaceUserinfo(url, ""); }

Result<UrlParts> ParseHttpUrl(std::string_view url) {
  EnsureCurlGlobal();
  const CurlUrl u(curl_url());
  if (u == nullptr) return Status::Internal("curl_url failed");
  const std::string text(url);
  const CURLUcode rc = curl_url_set(u.get(), CURLUPART_URL, text.c_str(), CURLU_PATH_AS_IS);
  if (rc != CURLUE_OK) {
    return Status::InvalidArgument(
        fmt::format("'{}' is not a valid URL: {}", RedactUserinfo(url), curl_url_strerror(rc)));
  }
  UrlParts parts;
  parts.scheme = Lower(UrlPart(u.get(), CURLUPART_SCHEME));
  if (parts.scheme != "http" && parts.scheme != "https") {
    return Status::InvalidArgument(
        fmt::format("'{}' is not an http(s):// URL", RedactUserinfo(url)));
  }
  parts.host = Lower(UrlPart(u.get(), CURLUPART_HOST));
  parts.port = UrlPart(u.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
  parts.path = UrlPart(u.get(), CURLUPART_PATH);
  parts.query = UrlPart(u.get(), CURLUPART_QUERY);
  parts.user = UrlPart(u.get(), CURLUPART_USER, CURLU_URLDECODE);
  parts.password = UrlPart(u.get(), CURLUPART_PASSWORD, CURLU_URLDECODE);
  return parts;
}

Result<std::string> ResolveRedirect(std::string_view base_url, std::string_view location) {
  EnsureCurlGlobal();
  const CurlUrl u(curl_url());
  if (u == nullptr) return Status::Internal("curl_url failed");
  const std::string base(base_url);
  const std::string loc(location);
  if (curl_url_set(u.get(), CURLUPART_URL, base.c_str(), CURLU_PATH_AS_IS) != CURLUE_OK ||
      curl_url_set(u.get(), CURLUPART_URL, loc.c_str(), CURLU_PATH_AS_IS) != CURLUE_OK) {
    return Status::IoError(fmt::format("{} redirected to an unusable Location '{}'",
                                       RedactUserinfo(base_url), RedactUserinfo(location)));
  }
  return UrlPart(u.get(), CURLUPART_URL);
}

}  // namespace epochcache
