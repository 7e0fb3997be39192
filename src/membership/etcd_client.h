// A minimal etcd v3 client over etcd's JSON gateway (HTTP POST /v3/...), on libcurl: just the
// lease and key-value calls membership needs. Keys and values are base64 on the wire.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/curl_http.h"
#include "epochcache/status.h"

namespace epochcache {

class EtcdClient {
 public:
  EtcdClient(std::vector<std::string> endpoints, std::chrono::milliseconds timeout);

  Result<std::int64_t> GrantLease(std::chrono::seconds ttl);
  // Returns the remaining TTL in seconds; 0 means the lease no longer exists.
  Result<std::int64_t> KeepAlive(std::int64_t lease);
  Status Revoke(std::int64_t lease);
  Status Put(const std::string& key, const std::string& value, std::int64_t lease);
  // Every key-value pair whose key starts with `prefix`, in key order.
  Result<std::vector<std::pair<std::string, std::string>>> GetPrefix(const std::string& prefix);

 private:
  struct Answer {
    std::string endpoint;  // the one that answered, to name it when the answer is bad
    std::string body;
  };
  // POSTs `body` to `path` on the first endpoint that answers; returns its JSON answer.
  Result<Answer> Call(const std::string& path, const std::string& body);
  // Parses an answer with `parse`; a malformed one becomes an error naming endpoint and call.
  template <typename T>
  static Result<T> Parsed(const Answer& answer, const std::string& path,
                          Result<T> (*parse)(std::string_view));

  std::vector<std::string> endpoints_;  // with http:// and no trailing slash
  std::chrono::milliseconds timeout_;
  CurlHttp http_;
  std::mutex mu_;
  std::size_t preferred_ = 0;  // GUARDED_BY(mu_): the endpoint that answered last
};

}  // namespace epochcache
