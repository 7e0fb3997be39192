#include "understore/azure_request.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>
#include <map>

#include "common/base64.h"

namespace epochcache {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.remove_suffix(1);
  return s;
}

// Azurite's documented development account (public, the same in every installation).
constexpr std::string_view kDevAccount = "devstoreaccount1";
constexpr std::string_view kDevKey =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

}  // namespace

Result<AzureUri> ParseAzureUri(std::string_view uri) {
  AzureUri out;
  const auto sep = uri.find("://");
  if (sep != std::string_view::npos) out.scheme = Lower(uri.substr(0, sep));
  if (out.scheme != "az" && out.scheme != "abfs" && out.scheme != "abfss") {
    return Status::InvalidArgument(
        fmt::format("'{}' is not an az://, abfs:// or abfss:// URI", uri));
  }
  std::string_view rest = uri.substr(sep + 3);
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) out.location.blob = std::string(rest.substr(slash + 1));
  if (const auto at = authority.find('@'); at != std::string_view::npos) {
    // adlfs's fully qualified form: container@account.dfs.core.windows.net.
    const std::string_view host = authority.substr(at + 1);
    authority = authority.substr(0, at);
    const auto dot = host.find('.');
    const std::string_view service = dot == std::string_view::npos ? "" : host.substr(dot + 1);
    if (dot == 0 || dot == std::string_view::npos ||
        !(service.starts_with("dfs.") || service.starts_with("blob."))) {
      return Status::InvalidArgument(fmt::format(
          "'{}': expected container@ACCOUNT.dfs.core.windows.net (or .blob.) as its authority",
          uri));
    }
    out.account = std::string(host.substr(0, dot));
  }
  out.location.container = std::string(authority);
  if (out.location.container.empty()) {
    return Status::InvalidArgument(fmt::format("'{}' names no container", uri));
  }
  return out;
}

Result<AzureConnectionString> ParseAzureConnectionString(std::string_view text) {
  AzureConnectionString out;
  std::map<std::string, std::string> fields;
  while (!text.empty()) {
    const auto semi = text.find(';');
    const std::string_view pair = Trim(text.substr(0, semi));
    text = semi == std::string_view::npos ? std::string_view() : text.substr(semi + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return Status::InvalidArgument(
          "the Azure connection string has a part that is not Name=value");
    }
    fields[Lower(Trim(pair.substr(0, eq)))] = std::string(Trim(pair.substr(eq + 1)));
  }
  auto get = [&](const char* name) {
    auto it = fields.find(name);
    return it == fields.end() ? std::string() : it->second;
  };
  if (Lower(get("usedevelopmentstorage")) == "true") {
    out.account_name = kDevAccount;
    out.account_key = kDevKey;
    out.protocol = "http";
    out.blob_endpoint = fmt::format("http://127.0.0.1:10000/{}", kDevAccount);
    std::string proxy = get("developmentstorageproxyuri");
    if (!proxy.empty()) {
      while (proxy.ends_with('/')) proxy.pop_back();
      out.blob_endpoint = fmt::format("{}:10000/{}", proxy, kDevAccount);
    }
    return out;
  }
  out.account_name = get("accountname");
  out.account_key = get("accountkey");
  out.sas_token = get("sharedaccesssignature");
  if (out.sas_token.starts_with('?')) out.sas_token.erase(0, 1);
  out.blob_endpoint = get("blobendpoint");
  if (!get("defaultendpointsprotocol").empty())
    out.protocol = Lower(get("defaultendpointsprotocol"));
  if (!get("endpointsuffix").empty()) out.endpoint_suffix = get("endpointsuffix");
  if (out.protocol != "http" && out.protocol != "https") {
    return Status::InvalidArgument(
        "the Azure connection string's DefaultEndpointsProtocol is not http or https");
  }
  if (out.account_name.empty() && out.blob_endpoint.empty()) {
    return Status::InvalidArgument(
        "the Azure connection string names neither AccountName nor BlobEndpoint");
  }
  return out;
}

std::string SharedKeyStringToSign(const AzureSignInput& input) {
  // VERB, then Content-Encoding, Content-Language, Content-Length, Content-MD5, Content-Type,
  // Date, If-Modified-Since, If-Match, If-None-Match, If-Unmodified-Since, Range.
  std::string out = input.method + "\n";
  out += "\n\n\n\n\n\n\n";  // Content-Encoding .. If-Modified-Since: never sent
  out += input.if_match + "\n";
  out += "\n\n\n";  // If-None-Match, If-Unmodified-Since, Range
  std::vector<std::pair<std::string, std::string>> headers;
  headers.reserve(input.ms_headers.size());
  for (const auto& [name, value] : input.ms_headers) {
    headers.emplace_back(Lower(Trim(name)), std::string(Trim(value)));
  }
  std::sort(headers.begin(), headers.end());
  for (const auto& [name, value] : headers) {
    out += name;
    out += ':';
    out += value;
    out += '\n';
  }
  out += "/" + input.account + input.url_path;
  std::map<std::string, std::vector<std::string>> params;
  for (const auto& [name, value] : input.query) params[Lower(name)].push_back(value);
  for (auto& [name, values] : params) {
    std::sort(values.begin(), values.end());
    out += "\n" + name + ":";
    for (std::size_t i = 0; i < values.size(); ++i) out += (i > 0 ? "," : "") + values[i];
  }
  return out;
}

Result<std::string> SharedKeySignature(std::string_view account_key,
                                       std::string_view string_to_sign) {
  auto key = Base64Decode(account_key);
  if (!key.ok()) return Status::InvalidArgument("the Azure account key is not valid base64");
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_size = 0;
  const unsigned char* done = HMAC(EVP_sha256(), key->data(), static_cast<int>(key->size()),
                                   reinterpret_cast<const unsigned char*>(string_to_sign.data()),
                                   string_to_sign.size(), mac.data(), &mac_size);
  if (done == nullptr) return Status::Internal("HMAC-SHA256 failed");
  return Base64Encode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac_size));
}

std::string AzureDateNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  // Spelled out rather than strftime's %a/%b, which follow the process locale.
  return fmt::format("{}, {:02} {} {} {:02}:{:02}:{:02} GMT", kDays.at(tm.tm_wday), tm.tm_mday,
                     kMonths.at(tm.tm_mon), tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

}  // namespace epochcache
