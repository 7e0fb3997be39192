#include "membership/etcd_answers.h"

#include <fmt/format.h>

#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/base64.h"

namespace epochcache {
namespace {

using json = nlohmann::json;

Status Malformed(std::string_view what) {
  return Status::IoError(fmt::format("malformed answer: {}", what));
}

// Parses without exceptions; an etcd error document ({"error": ..., "message": ...}) or
// anything but a JSON object becomes a Status.
Result<json> ParseObject(std::string_view body) {
  json answer = json::parse(body.begin(), body.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (answer.is_discarded()) return Malformed("not JSON");
  if (!answer.is_object())
    return Malformed(fmt::format("a JSON {}, not an object", answer.type_name()));
  if (const auto error = answer.find("error"); error != answer.end()) {
    const auto message = answer.find("message");
    const json& text = message != answer.end() && message->is_string() ? *message : *error;
    std::string said = text.is_string() ? text.get_ref<const std::string&>() : "";
    if (said.size() > 200) said.resize(200);
    return Status::IoError(fmt::format("etcd reported an error: {}", said));
  }
  return answer;
}

// etcd's gateway prints 64-bit integers as strings ("ID": "7587862338413372676"); plain JSON
// integers are taken too. nullopt when the field is absent (proto3 JSON leaves out zeros).
Result<std::optional<std::int64_t>> Int64Field(const json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end()) return std::optional<std::int64_t>();
  if (it->is_string()) {
    const std::string& text = it->get_ref<const std::string&>();
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc::result_out_of_range) {
      return Malformed(fmt::format("field {} is out of range", name));
    }
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
      return Malformed(fmt::format("field {} is not an integer", name));
    }
    return std::optional<std::int64_t>(value);
  }
  if (it->is_number_unsigned()) {
    const auto value = it->get<std::uint64_t>();
    if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return Malformed(fmt::format("field {} is out of range", name));
    }
    return std::optional<std::int64_t>(static_cast<std::int64_t>(value));
  }
  if (it->is_number_integer()) return std::optional<std::int64_t>(it->get<std::int64_t>());
  return Malformed(fmt::format("field {} is a {}, not an integer", name, it->type_name()));
}

Result<std::string> Base64Field(const json& object, const char* name, std::size_t index,
                                bool required) {
  const auto it = object.find(name);
  if (it == object.end()) {
    if (required) return Malformed(fmt::format("kvs[{}] has no {}", index, name));
    return std::string();
  }
  if (!it->is_string()) {
    return Malformed(fmt::format("kvs[{}].{} is a {}, not a string", index, name, it->type_name()));
  }
  const std::string& text = it->get_ref<const std::string&>();
  auto decoded = Base64Decode(text);
  if (!decoded.ok()) {
    return Malformed(fmt::format("kvs[{}].{}: {}", index, name, decoded.status().message()));
  }
  // The decoder lets some malformed text through ("====", "=L2E"); etcd only ever sends the
  // canonical encoding, so anything that does not encode back to itself is refused.
  if (Base64Encode(*decoded) != text) {
    return Malformed(fmt::format("kvs[{}].{} is not canonical base64", index, name));
  }
  return decoded;
}

}  // namespace

Result<std::int64_t> ParseEtcdLeaseGrant(std::string_view body) {
  EC_ASSIGN_OR_RETURN(const json answer, ParseObject(body));
  EC_ASSIGN_OR_RETURN(const std::optional<std::int64_t> id, Int64Field(answer, "ID"));
  if (!id) return Malformed("lease grant without an ID");
  if (*id <= 0) return Malformed(fmt::format("lease ID {} is not positive", *id));
  return *id;
}

Result<std::int64_t> ParseEtcdKeepAlive(std::string_view body) {
  // The gateway streams one JSON object per line: {"result": {...}}.
  EC_ASSIGN_OR_RETURN(const json answer, ParseObject(body.substr(0, body.find('\n'))));
  const auto result = answer.find("result");
  if (result == answer.end()) return Malformed("keepalive without a result");
  if (!result->is_object()) {
    return Malformed(fmt::format("keepalive result is a {}, not an object", result->type_name()));
  }
  EC_ASSIGN_OR_RETURN(const std::optional<std::int64_t> ttl, Int64Field(*result, "TTL"));
  // A lease that is gone comes back without a TTL (proto3 omits the zero) or with -1.
  return ttl && *ttl > 0 ? *ttl : 0;
}

Result<std::vector<std::pair<std::string, std::string>>> ParseEtcdRange(std::string_view body) {
  EC_ASSIGN_OR_RETURN(const json answer, ParseObject(body));
  std::vector<std::pair<std::string, std::string>> out;
  const auto kvs = answer.find("kvs");
  if (kvs == answer.end()) return out;  // no keys: etcd leaves the empty list out
  if (!kvs->is_array()) {
    return Malformed(fmt::format("kvs is a {}, not an array", kvs->type_name()));
  }
  out.reserve(kvs->size());
  for (std::size_t i = 0; i < kvs->size(); ++i) {
    const json& kv = (*kvs)[i];
    if (!kv.is_object()) {
      return Malformed(fmt::format("kvs[{}] is a {}, not an object", i, kv.type_name()));
    }
    EC_ASSIGN_OR_RETURN(std::string key, Base64Field(kv, "key", i, /*required=*/true));
    EC_ASSIGN_OR_RETURN(std::string value, Base64Field(kv, "value", i, /*required=*/false));
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

}  // namespace epochcache
