#include "membership/etcd_client.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/base64.h"

namespace epochcache {
namespace {

using json = nlohmann::json;

// The smallest key greater than every key with this prefix (etcd's range_end for a prefix).
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    auto& last = prefix.back();
    if (static_cast<unsigned char>(last) < 0xff) {
      last = static_cast<char>(static_cast<unsigned char>(last) + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // the whole keyspace
}

// etcd's gateway prints 64-bit integers as strings.
std::int64_t Int64Field(const json& j, const char* name) {
  if (!j.contains(name)) return 0;
  const auto& v = j.at(name);
  if (v.is_string()) return std::stoll(v.get<std::string>());
  if (v.is_number_integer()) return v.get<std::int64_t>();
  return 0;
}

}  // namespace

EtcdClient::EtcdClient(std::vector<std::string> endpoints, std::chrono::milliseconds timeout)
    : timeout_(timeout) {
  for (auto& e : endpoints) {
    if (!e.starts_with("http://") && !e.starts_with("https://")) e.insert(0, "http://");
    while (e.ends_with('/')) e.pop_back();
    endpoints_.push_back(std::move(e));
  }
}

Result<std::string> EtcdClient::Call(const std::string& path, const std::string& body) {
  if (endpoints_.empty()) return Status::InvalidArgument("no etcd endpoints given");
  std::size_t first = 0;
  {
    std::lock_guard lock(mu_);
    first = preferred_;
  }
  Status last;
  for (std::size_t i = 0; i < endpoints_.size(); ++i) {
    const std::size_t at = (first + i) % endpoints_.size();
    HttpRequest request;
    request.method = "POST";
    request.url = endpoints_[at] + path;
    request.post_body = body;
    request.headers.emplace_back("Content-Type: application/json");
    request.connect_timeout = timeout_;
    request.timeout = timeout_;
    auto response = http_.Perform(request);
    if (!response.ok()) {
      last = response.status().WithContext("etcd " + endpoints_[at]);
      continue;
    }
    if (response->status != 200) {
      last =
          Status::Unavailable(fmt::format("etcd {} answered HTTP {} to {}: {}", endpoints_[at],
                                          response->status, path, response->body.substr(0, 200)));
      continue;
    }
    {
      std::lock_guard lock(mu_);
      preferred_ = at;
    }
    return std::move(response->body);
  }
  return last;
}

Result<std::int64_t> EtcdClient::GrantLease(std::chrono::seconds ttl) {
  EC_ASSIGN_OR_RETURN(const std::string body,
                      Call("/v3/lease/grant", json{{"TTL", ttl.count()}}.dump()));
  const json answer = json::parse(body, nullptr, false);
  if (answer.is_discarded() || Int64Field(answer, "ID") == 0) {
    return Status::IoError("etcd lease grant: unexpected answer " + body.substr(0, 200));
  }
  return Int64Field(answer, "ID");
}

Result<std::int64_t> EtcdClient::KeepAlive(std::int64_t lease) {
  EC_ASSIGN_OR_RETURN(const std::string body,
                      Call("/v3/lease/keepalive", json{{"ID", std::to_string(lease)}}.dump()));
  // The gateway streams: one JSON object per line, {"result": {...}}.
  const json answer = json::parse(body.substr(0, body.find('\n')), nullptr, false);
  if (answer.is_discarded() || !answer.contains("result")) {
    return Status::IoError("etcd keepalive: unexpected answer " + body.substr(0, 200));
  }
  return Int64Field(answer.at("result"), "TTL");
}

Status EtcdClient::Revoke(std::int64_t lease) {
  return Call("/v3/lease/revoke", json{{"ID", std::to_string(lease)}}.dump()).status();
}

Status EtcdClient::Put(const std::string& key, const std::string& value, std::int64_t lease) {
  json req{{"key", Base64Encode(key)}, {"value", Base64Encode(value)}};
  if (lease != 0) req["lease"] = std::to_string(lease);
  return Call("/v3/kv/put", req.dump()).status();
}

Result<std::vector<std::pair<std::string, std::string>>> EtcdClient::GetPrefix(
    const std::string& prefix) {
  const json req{{"key", Base64Encode(prefix)}, {"range_end", Base64Encode(PrefixEnd(prefix))}};
  EC_ASSIGN_OR_RETURN(const std::string body, Call("/v3/kv/range", req.dump()));
  const json answer = json::parse(body, nullptr, false);
  if (answer.is_discarded()) return Status::IoError("etcd range: answer is not JSON");
  std::vector<std::pair<std::string, std::string>> out;
  if (!answer.contains("kvs")) return out;
  for (const auto& kv : answer.at("kvs")) {
    EC_ASSIGN_OR_RETURN(std::string key, Base64Decode(kv.value("key", "")));
    EC_ASSIGN_OR_RETURN(std::string value, Base64Decode(kv.value("value", "")));
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

}  // namespace epochcache
