#include "membership/etcd_client.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "membership/etcd_answers.h"

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

}  // namespace

EtcdClient::EtcdClient(std::vector<std::string> endpoints, std::chrono::milliseconds timeout)
    : timeout_(timeout) {
  for (auto& e : endpoints) {
    if (!e.starts_with("http://") && !e.starts_with("https://")) e.insert(0, "http://");
    while (e.ends_with('/')) e.pop_back();
    endpoints_.push_back(std::move(e));
  }
}

Result<EtcdClient::Answer> EtcdClient::Call(const std::string& path, const std::string& body) {
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
    return Answer{endpoints_[at], std::move(response->body)};
  }
  return last;
}

template <typename T>
Result<T> EtcdClient::Parsed(const Answer& answer, const std::string& path,
                             Result<T> (*parse)(std::string_view)) {
  Result<T> parsed = parse(answer.body);
  if (!parsed.ok()) return parsed.status().WithContext("etcd " + answer.endpoint + " " + path);
  return parsed;
}

Result<std::int64_t> EtcdClient::GrantLease(std::chrono::seconds ttl) {
  const std::string path = "/v3/lease/grant";
  EC_ASSIGN_OR_RETURN(const Answer answer, Call(path, json{{"TTL", ttl.count()}}.dump()));
  return Parsed(answer, path, &ParseEtcdLeaseGrant);
}

Result<std::int64_t> EtcdClient::KeepAlive(std::int64_t lease) {
  const std::string path = "/v3/lease/keepalive";
  EC_ASSIGN_OR_RETURN(const Answer answer, Call(path, json{{"ID", std::to_string(lease)}}.dump()));
  return Parsed(answer, path, &ParseEtcdKeepAlive);
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
  const std::string path = "/v3/kv/range";
  const json req{{"key", Base64Encode(prefix)}, {"range_end", Base64Encode(PrefixEnd(prefix))}};
  EC_ASSIGN_OR_RETURN(const Answer answer, Call(path, req.dump()));
  return Parsed(answer, path, &ParseEtcdRange);
}

}  // namespace epochcache
