#include "protocol/error_json.h"

#include <optional>
#include <string>

#include "protocol/json_text.h"
#include "protocol/status_http.h"

namespace epochcache::protocol {
namespace {

constexpr unsigned kRangeNotSatisfiable = 416;

// The code a body's "error" member names, if it names one other than "ok".
std::optional<StatusCode> NamedCode(const nlohmann::json& doc) {
  if (!doc.is_object()) return std::nullopt;
  const auto it = doc.find("error");
  if (it == doc.end() || !it->is_string()) return std::nullopt;
  const auto& name = it->get_ref<const std::string&>();
  const StatusCode code = StatusCodeFromName(name);
  // StatusCodeFromName maps unknown names to kInternal: only a real "internal" means that.
  if (code == StatusCode::kOk || (code == StatusCode::kInternal && name != "internal")) {
    return std::nullopt;
  }
  return code;
}

}  // namespace

std::string Snippet(std::string_view text) {
  constexpr std::size_t kMax = 200;
  std::string out(text.substr(0, kMax));
  if (text.size() > kMax) out += "...";
  return out;
}

std::string EncodeError(const Status& status) {
  return DumpJson(
      {{"error", std::string(StatusCodeName(status.code()))}, {"message", status.message()}});
}

Status DecodeError(unsigned http_status, std::string_view body, std::string_view who) {
  const std::string answered = std::string(who) + " answered HTTP " + std::to_string(http_status);
  if (http_status == kRangeNotSatisfiable) {
    return Status::Changed(answered +
                           ": the range starts past the end of the file, which is shorter than "
                           "when it was stat'ed: " +
                           Snippet(body));
  }
  const nlohmann::json doc = ParseJson(body);
  if (auto code = NamedCode(doc)) {
    const auto message = doc.find("message");
    if (message != doc.end() && message->is_string() &&
        !message->get_ref<const std::string&>().empty()) {
      return {*code, message->get<std::string>()};
    }
    return {*code, answered + " without a message"};
  }
  StatusCode code = StatusCodeForHttp(http_status);
  if (code == StatusCode::kOk) code = StatusCode::kIoError;  // an "error" with a success status
  return {code, answered + ": " + Snippet(body)};
}

}  // namespace epochcache::protocol
