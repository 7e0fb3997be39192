#include "understore/hf_api.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/curl_http.h"

namespace epochcache {
namespace {

std::string EnvOr(const char* name, std::string fallback) {
  const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read at startup
  return value != nullptr && *value != '\0' ? std::string(value) : std::move(fallback);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A token file's first line, trimmed; nullopt when the file cannot be read.
std::optional<std::string> ReadTokenFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
    line.pop_back();
  }
  return line;
}

}  // namespace

bool IsHfCommit(std::string_view text) {
  if (text.size() != 40 && text.size() != 64) return false;
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Result<std::vector<HfTreeEntry>> ParseHfTreePage(std::string_view json) {
  const auto doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_array()) {
    return Status::IoError("the Hub's tree answer is not a JSON array");
  }
  std::vector<HfTreeEntry> entries;
  entries.reserve(doc.size());
  for (const auto& item : doc) {
    if (!item.is_object() || !item.contains("path") || !item["path"].is_string() ||
        !item.contains("type") || !item["type"].is_string()) {
      return Status::IoError("the Hub's tree answer has an entry without a path or type");
    }
    HfTreeEntry entry;
    entry.path = item["path"].get<std::string>();
    const std::string type = item["type"].get<std::string>();
    if (type == "directory") {
      entry.is_directory = true;
    } else if (type != "file") {
      return Status::IoError(
          fmt::format("the Hub's tree answer has an entry of type '{:.20}'", type));
    }
    if (item.contains("oid") && item["oid"].is_string()) entry.oid = item["oid"].get<std::string>();
    if (!entry.is_directory) {
      if (!item.contains("size") || !item["size"].is_number_unsigned()) {
        return Status::IoError(fmt::format("the Hub's tree answer gives '{}' no size", entry.path));
      }
      entry.size = item["size"].get<std::uint64_t>();
      if (item.contains("lfs") && item["lfs"].is_object()) {
        const auto& lfs = item["lfs"];
        if (lfs.contains("oid") && lfs["oid"].is_string())
          entry.oid = lfs["oid"].get<std::string>();
        if (lfs.contains("size") && lfs["size"].is_number_unsigned()) {
          entry.size = lfs["size"].get<std::uint64_t>();
        }
      }
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

Result<std::string> ParseHfRevisionSha(std::string_view json) {
  const auto doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("sha") || !doc["sha"].is_string()) {
    return Status::IoError("the Hub's revision answer has no \"sha\"");
  }
  std::string sha = doc["sha"].get<std::string>();
  if (!IsHfCommit(sha)) {
    return Status::IoError(
        fmt::format("the Hub's revision answer has a \"sha\" that is not a "
                    "commit id ('{:.80}')",
                    sha));
  }
  return sha;
}

std::optional<std::string> HfNextPageUrl(std::string_view link_header) {
  // link-value = "<" URI ">" *( ";" link-param ), separated by ","; a URI holds no '>'.
  std::size_t pos = 0;
  while (pos < link_header.size()) {
    const auto open = link_header.find('<', pos);
    if (open == std::string_view::npos) return std::nullopt;
    const auto close = link_header.find('>', open);
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view url = link_header.substr(open + 1, close - open - 1);
    auto end = link_header.find(',', close);
    // A ',' inside a quoted parameter value would end the params early; rel values have none.
    if (end == std::string_view::npos) end = link_header.size();
    std::string_view params = link_header.substr(close + 1, end - close - 1);
    while (!params.empty()) {
      const auto semi = params.find(';');
      const std::string_view param = Trim(params.substr(0, semi));
      params = semi == std::string_view::npos ? std::string_view() : params.substr(semi + 1);
      const auto eq = param.find('=');
      if (eq == std::string_view::npos) continue;
      std::string name(Trim(param.substr(0, eq)));
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string_view value = Trim(param.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      if (name != "rel") continue;
      // rel may list several space-separated relation types.
      std::istringstream rels{std::string(value)};
      for (std::string rel; rels >> rel;) {
        if (rel == "next") return std::string(url);
      }
    }
    pos = end + 1;
  }
  return std::nullopt;
}

Result<HfSettings> LoadHfSettings() {
  HfSettings settings;
  settings.endpoint = EnvOr("HF_ENDPOINT", "https://huggingface.co");
  while (settings.endpoint.ends_with('/')) settings.endpoint.pop_back();
  auto parts = ParseHttpUrl(settings.endpoint);
  if (!parts.ok() || !parts->user.empty() || !(parts->path.empty() || parts->path == "/") ||
      !parts->query.empty()) {
    return Status::InvalidArgument(fmt::format(
        "HF_ENDPOINT '{}' is not an http(s)://host[:port] URL", RedactUserinfo(settings.endpoint)));
  }
  if (const std::string ttl = EnvOr("EPOCHCACHE_HF_REVISION_TTL", ""); !ttl.empty()) {
    std::uint64_t seconds = 0;
    const auto [end, ec] = std::from_chars(ttl.data(), ttl.data() + ttl.size(), seconds);
    if (ec != std::errc() || end != ttl.data() + ttl.size() ||
        seconds > std::uint64_t{86400} * 365) {
      return Status::InvalidArgument(
          fmt::format("EPOCHCACHE_HF_REVISION_TTL '{:.40}' is not a number of seconds", ttl));
    }
    settings.revision_ttl = std::chrono::seconds(seconds);
  }
  if (std::string token = EnvOr("HF_TOKEN", ""); !token.empty()) {
    settings.token = std::move(token);
    settings.token_source = "HF_TOKEN";
  } else {
    const std::string home = EnvOr("HOME", "");
    const std::string cache = EnvOr("XDG_CACHE_HOME", home.empty() ? "" : home + "/.cache");
    const std::string hf_home = EnvOr("HF_HOME", cache.empty() ? "" : cache + "/huggingface");
    const std::string path = EnvOr("HF_TOKEN_PATH", hf_home.empty() ? "" : hf_home + "/token");
    if (!path.empty()) {
      if (auto text = ReadTokenFile(path); text && !text->empty()) {
        settings.token = std::move(*text);
        settings.token_source = path;
      }
    }
  }
  for (const char c : settings.token) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u == 0x7f) {
      return Status::InvalidArgument(
          fmt::format("the Hugging Face token from {} contains a space or control character",
                      settings.token_source));
    }
  }
  return settings;
}

}  // namespace epochcache
