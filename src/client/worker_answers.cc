#include "client/worker_answers.h"

#include <fmt/format.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <utility>

namespace epochcache::client {
namespace {

using json = nlohmann::json;

// The string member `key` of a JSON object, or empty. Never throws on untrusted input.
std::string StringMember(const json& doc, const char* key) {
  if (!doc.is_object()) return {};
  auto it = doc.find(key);
  return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<FileStatus> FileStatusFromJson(const json& j) {
  if (!j.is_object()) return Status::IoError("not a JSON object");
  FileStatus st;
  st.path = StringMember(j, "path");
  const std::string type = StringMember(j, "type");
  if (type != "file" && type != "directory") {
    return Status::IoError(fmt::format("entry '{}' has unknown type '{}'", st.path, type));
  }
  st.is_directory = type == "directory";
  if (auto it = j.find("size"); it != j.end() && it->is_number_unsigned()) {
    st.size = it->get<std::uint64_t>();
  } else if (!st.is_directory && (it == j.end() || !it->is_number())) {
    return Status::IoError(fmt::format("entry '{}' has no size", st.path));
  }
  if (auto it = j.find("mtime_ns"); it != j.end() && it->is_number_integer()) {
    st.mtime_ns = it->get<std::int64_t>();
  }
  st.version = StringMember(j, "version");
  return st;
}

}  // namespace

std::string Snippet(std::string_view text) {
  constexpr std::size_t kMax = 200;
  std::string out(text.substr(0, kMax));
  if (text.size() > kMax) out += "...";
  return out;
}

StatusCode CodeForHttpStatus(unsigned http_status) {
  switch (http_status) {
    case 400:
      return StatusCode::kInvalidArgument;
    case 401:
      return StatusCode::kUnauthenticated;
    case 403:
      return StatusCode::kPermissionDenied;
    case 404:
      return StatusCode::kNotFound;
    case 409:
    case 416:
      return StatusCode::kChanged;
    case 503:
      return StatusCode::kUnavailable;
    case 504:
      return StatusCode::kTimeout;
    case 500:
      return StatusCode::kInternal;
    default:
      return StatusCode::kIoError;
  }
}

Status ErrorFromAnswer(unsigned http_status, std::string_view body, std::string_view host,
                       std::string_view path, bool sent_token) {
  if (http_status == 416) {
    return Status::Changed(fmt::format("{}: the file is shorter than when it was stat'ed", path));
  }
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  const std::string name = StringMember(doc, "error");
  std::string message = StringMember(doc, "message");
  if (http_status == 401) {
    // The worker's message never echoes the token, and neither does this one.
    return Status::Unauthenticated(fmt::format(
        "{}: worker {} refused the request (HTTP 401 unauthenticated): {}{}", path, host,
        sent_token ? "the auth token given was not accepted"
                   : "it requires an auth token and none was given",
        message.empty() ? std::string() : fmt::format(" ({})", Snippet(message))));
  }
  if (!name.empty()) {
    StatusCode code = StatusCodeFromName(name);
    if (code == StatusCode::kOk) code = StatusCode::kInternal;
    if (message.empty()) {
      message = fmt::format("{}: worker {} answered HTTP {}", path, host, http_status);
    }
    return {code, std::move(message)};
  }
  return {CodeForHttpStatus(http_status), fmt::format("{}: worker {} answered HTTP {}: {}", path,
                                                      host, http_status, Snippet(body))};
}

Result<FileStatus> ParseFileStatus(std::string_view body) {
  return FileStatusFromJson(json::parse(body, nullptr, /*allow_exceptions=*/false));
}

Result<ListPage> ParseListPage(std::string_view body) {
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return Status::IoError("not a JSON object");
  const auto entries = doc.find("entries");
  if (entries == doc.end() || !entries->is_array()) {
    return Status::IoError("no 'entries' array");
  }
  ListPage page;
  if (const auto it = doc.find("next_start_after"); it != doc.end() && !it->is_null()) {
    if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
      return Status::IoError("'next_start_after' is not a non-empty string");
    }
    page.next_start_after = it->get<std::string>();
  }
  page.entries.reserve(entries->size());
  for (const auto& entry : *entries) {
    EC_ASSIGN_OR_RETURN(FileStatus st, FileStatusFromJson(entry));
    page.entries.push_back(std::move(st));
  }
  return page;
}

}  // namespace epochcache::client
