#include "protocol/file_status_json.h"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

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

// Every member that is wrong is named, not just the first: one look at the message shows what
// the answering side gets wrong.
Result<FileStatus> StatFromObject(const json& doc, std::string_view what) {
  if (!doc.is_object()) return Malformed(what, "not a JSON object");
  FileStatus st;
  std::vector<std::string> wrong;
  if (const json* path = Member(doc, "path"); path == nullptr) {
    wrong.emplace_back("no 'path'");
  } else if (!path->is_string()) {
    wrong.emplace_back("'path' is not a string");
  } else {
    st.path = path->get<std::string>();
  }
  const std::string entry = "entry '" + st.path + "'";
  const json* type = Member(doc, "type");
  if (type == nullptr) {
    wrong.push_back(entry + " has no 'type'");
  } else if (!type->is_string() || (*type != "file" && *type != "directory")) {
    wrong.push_back(entry + " has unknown type '" +
                    (type->is_string() ? type->get<std::string>() : DumpJson(*type)) + "'");
  } else {
    st.is_directory = *type == "directory";
  }
  if (const json* size = Member(doc, "size"); size != nullptr) {
    if (size->is_number_unsigned()) {
      st.size = size->get<std::uint64_t>();
    } else {
      wrong.push_back(entry + " has no size: 'size' is not an unsigned integer");
    }
  } else if (!st.is_directory) {
    wrong.push_back(entry + " has no size");
  }
  if (const json* mtime = Member(doc, "mtime_ns"); mtime != nullptr) {
    // An integer that fits int64: a larger unsigned would wrap.
    if (mtime->is_number_integer() &&
        (!mtime->is_number_unsigned() ||
         mtime->get<std::uint64_t>() <=
             static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))) {
      st.mtime_ns = mtime->get<std::int64_t>();
    } else {
      wrong.push_back(entry + ": 'mtime_ns' is not a 64-bit integer");
    }
  }
  if (const json* version = Member(doc, "version"); version != nullptr) {
    if (version->is_string()) {
      st.version = version->get<std::string>();
    } else {
      wrong.push_back(entry + ": 'version' is not a string");
    }
  }
  if (wrong.empty()) return st;
  std::string why = wrong.front();
  for (std::size_t i = 1; i < wrong.size(); ++i) why += "; " + wrong[i];
  return Malformed(what, why);
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
