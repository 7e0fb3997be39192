#include "protocol/file_status_json.h"

#include <cstdint>
#include <limits>

#include "protocol/json_text.h"

namespace epochcache::protocol {
namespace {

using nlohmann::json;

json StatObject(const FileStatus& status) {
  return {{"path", status.path},
          {"type", status.is_directory ? "directory" : "file"},
          {"size", status.size},
          {"mtime_ns", status.mtime_ns},
          {"version", status.version}};
}

Status Malformed(std::string_view what, std::string_view why) {
  return Status::IoError("malformed " + std::string(what) + ": " + std::string(why));
}

// Member `key` of the object `doc`, or nullptr when absent (or null).
const json* Member(const json& doc, const char* key) {
  const auto it = doc.find(key);
  return it == doc.end() || it->is_null() ? nullptr : &*it;
}

Result<std::string> RequiredString(const json& doc, const char* key, std::string_view what) {
  const json* value = Member(doc, key);
  if (value == nullptr) return Malformed(what, "no '" + std::string(key) + "'");
  if (!value->is_string()) return Malformed(what, "'" + std::string(key) + "' is not a string");
  return value->get<std::string>();
}

Result<FileStatus> StatFromObject(const json& doc, std::string_view what) {
  if (!doc.is_object()) return Malformed(what, "not a JSON object");
  FileStatus st;
  EC_ASSIGN_OR_RETURN(st.path, RequiredString(doc, "path", what));
  EC_ASSIGN_OR_RETURN(const std::string type, RequiredString(doc, "type", what));
  if (type != "file" && type != "directory") {
    return Malformed(what, "entry '" + st.path + "' has unknown type '" + type + "'");
  }
  st.is_directory = type == "directory";
  if (const json* size = Member(doc, "size"); size != nullptr) {
    if (!size->is_number_unsigned()) {
      return Malformed(what, "entry '" + st.path + "': 'size' is not an unsigned integer");
    }
    st.size = size->get<std::uint64_t>();
  } else if (!st.is_directory) {
    return Malformed(what, "file '" + st.path + "' has no 'size'");
  }
  if (const json* mtime = Member(doc, "mtime_ns"); mtime != nullptr) {
    // An integer that fits int64: a larger unsigned would wrap.
    if (!mtime->is_number_integer() ||
        (mtime->is_number_unsigned() &&
         mtime->get<std::uint64_t>() >
             static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))) {
      return Malformed(what, "entry '" + st.path + "': 'mtime_ns' is not a 64-bit integer");
    }
    st.mtime_ns = mtime->get<std::int64_t>();
  }
  if (const json* version = Member(doc, "version"); version != nullptr) {
    if (!version->is_string()) {
      return Malformed(what, "entry '" + st.path + "': 'version' is not a string");
    }
    st.version = version->get<std::string>();
  }
  return st;
}

}  // namespace

std::string EncodeFileStatus(const FileStatus& status) { return DumpJson(StatObject(status)); }

Result<FileStatus> DecodeFileStatus(std::string_view text) {
  const json doc = ParseJson(text);
  if (doc.is_discarded()) return Malformed("stat answer", "not JSON");
  return StatFromObject(doc, "stat answer");
}

std::string EncodeListPage(const ListPage& page) {
  json entries = json::array();
  for (const auto& entry : page.entries) entries.push_back(StatObject(entry));
  json body = {{"path", page.path}, {"entries", std::move(entries)}};
  if (page.next_start_after) body["next_start_after"] = *page.next_start_after;
  return DumpJson(body);
}

Result<ListPage> DecodeListPage(std::string_view text) {
  constexpr std::string_view kWhat = "list page";
  const json doc = ParseJson(text);
  if (doc.is_discarded()) return Malformed(kWhat, "not JSON");
  if (!doc.is_object()) return Malformed(kWhat, "not a JSON object");
  ListPage page;
  // "path" echoes the request; older workers may omit it.
  if (const json* path = Member(doc, "path"); path != nullptr) {
    if (!path->is_string()) return Malformed(kWhat, "'path' is not a string");
    page.path = path->get<std::string>();
  }
  const json* entries = Member(doc, "entries");
  if (entries == nullptr || !entries->is_array()) return Malformed(kWhat, "no 'entries' array");
  page.entries.reserve(entries->size());
  for (const auto& entry : *entries) {
    EC_ASSIGN_OR_RETURN(FileStatus st, StatFromObject(entry, kWhat));
    page.entries.push_back(std::move(st));
  }
  if (const json* next = Member(doc, "next_start_after"); next != nullptr) {
    if (!next->is_string() || next->get_ref<const std::string&>().empty()) {
      return Malformed(kWhat, "'next_start_after' is not a non-empty string");
    }
    page.next_start_after = next->get<std::string>();
  }
  return page;
}

}  // namespace epochcache::protocol
