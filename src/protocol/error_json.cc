#include "protocol/error_json.h"

#include <optional>
#include <string>

#include "protocol/json_text.h"
#include "protocol/status_http.h"

namespace epochcache::protocol {
namespace {

// Enough of an unexpected body to recognise it, short enough for a log line.
std::string Snippet(std::string_view body) {
  constexpr std::size_t kMax = 200;
  std::string out(body.substr(0, kMax));
  if (body.size() > kMax) out += "...";
  return out;
}

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

std::string EncodeError(const Status& status) {
  return DumpJson(
      {{"error", std::string(StatusCodeName(status.code()))}, {"message", status.message()}});
}

Status DecodeError(unsigned http_status, std::string_view body) {
  const nlohmann::json doc = ParseJson(body);
  if (auto code = NamedCode(doc)) {
    const auto message = doc.find("message");
    if (message != doc.end() && message->is_string() &&
        !message->get_ref<const std::string&>().empty()) {
      return {*code, message->get<std::string>()};
    }
    return {*code, "HTTP " + std::to_string(http_status) + " without a message"};
  }
  StatusCode code = StatusCodeForHttp(http_status);
  if (code == StatusCode::kOk) code = StatusCode::kIoError;  // an "error" with a success status
  return {code, "HTTP " + std::to_string(http_status) + ": " + Snippet(body)};
}

}  // namespace epochcache::protocol
