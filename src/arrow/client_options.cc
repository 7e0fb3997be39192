#include "arrow/client_options.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace epochcache::arrowfs {
namespace {

std::vector<std::string> SplitList(std::string_view value) {
  std::vector<std::string> out;
  while (!value.empty()) {
    const auto comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

Status Bad(std::string_view name, std::string_view what) {
  return Status::InvalidArgument("epochcache: option " + std::string(name) + " " +
                                 std::string(what));
}

Status SetSeconds(std::chrono::milliseconds& out, std::string_view name, std::string_view value,
                  bool allow_zero) {
  double seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc() || end != value.data() + value.size() || !std::isfinite(seconds) ||
      seconds < 0 || (seconds == 0 && !allow_zero) || seconds > 1e9) {
    return Bad(name, "must be a positive number of seconds");
  }
  out = std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(seconds * 1000)));
  if (out.count() == 0 && !allow_zero) out = std::chrono::milliseconds(1);
  return Status::Ok();
}

template <typename T>
Status SetPositive(T& out, std::string_view name, std::string_view value) {
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || end != value.data() + value.size() || n == 0) {
    return Bad(name, "must be a positive integer");
  }
  out = static_cast<T>(n);
  return Status::Ok();
}

Status SetBool(bool& out, std::string_view name, std::string_view value) {
  if (value == "1" || value == "true" || value == "True") {
    out = true;
  } else if (value == "0" || value == "false" || value == "False") {
    out = false;
  } else {
    return Bad(name, "must be true or false");
  }
  return Status::Ok();
}

}  // namespace

Status SetClientOption(ClientOptions& options, std::string_view name, std::string_view value) {
  S3Options& s3 = options.fallback_options.s3;
  if (name == "worker_hosts") {
    options.worker_hosts = SplitList(value);
  } else if (name == "etcd_endpoints" || name == "etcd_hosts") {
    options.etcd_endpoints = SplitList(value);
  } else if (name == "seed_workers") {
    options.seed_workers.clear();
    for (const std::string& pair : SplitList(value)) {
      const auto eq = pair.find('=');
      if (eq == std::string::npos) return Bad(name, "must be id=address pairs");
      options.seed_workers.push_back(WorkerRecord{pair.substr(0, eq), pair.substr(eq + 1), 0, 0});
    }
  } else if (name == "cluster") {
    options.cluster = value;
  } else if (name == "auth_token") {
    options.auth_token = value;
  } else if (name == "tls") {
    return SetBool(options.tls, name, value);
  } else if (name == "tls_ca") {
    options.tls_ca = value;
  } else if (name == "local_reads") {
    return SetBool(options.local_reads, name, value);
  } else if (name == "connect_timeout") {
    return SetSeconds(options.connect_timeout, name, value, false);
  } else if (name == "request_timeout") {
    return SetSeconds(options.request_timeout, name, value, false);
  } else if (name == "metadata_ttl") {
    return SetSeconds(options.metadata_ttl, name, value, true);
  } else if (name == "membership_refresh") {
    return SetSeconds(options.membership_refresh, name, value, false);
  } else if (name == "etcd_timeout") {
    return SetSeconds(options.etcd_timeout, name, value, false);
  } else if (name == "breaker_backoff") {
    return SetSeconds(options.breaker_backoff, name, value, false);
  } else if (name == "breaker_max_backoff") {
    return SetSeconds(options.breaker_max_backoff, name, value, false);
  } else if (name == "piece_size") {
    return SetPositive(options.piece_size, name, value);
  } else if (name == "block_size") {
    return SetPositive(options.block_size, name, value);
  } else if (name == "max_parallel_requests") {
    return SetPositive(options.max_parallel_requests, name, value);
  } else if (name == "max_workers_per_key") {
    return SetPositive(options.max_workers_per_key, name, value);
  } else if (name == "fallback_under_store") {
    options.fallback_under_store = value;
  } else if (name == "s3_endpoint_url") {
    s3.endpoint_url = value;
  } else if (name == "s3_region") {
    s3.region = value;
  } else if (name == "s3_access_key_id") {
    s3.access_key_id = value;
  } else if (name == "s3_secret_access_key") {
    s3.secret_access_key = value;
  } else if (name == "s3_session_token") {
    s3.session_token = value;
  } else if (name == "s3_profile") {
    s3.profile = value;
  } else if (name == "s3_anonymous") {
    return SetBool(s3.anonymous, name, value);
  } else if (name == "s3_addressing") {
    s3.addressing = value;
  } else {
    return Status::InvalidArgument("epochcache: unknown client option " + std::string(name));
  }
  return Status::Ok();
}

void FinishClientOptions(ClientOptions& options) {
  // As the nanobind module does (src/python/native_module.cc): direct reads share the
  // client's deadlines.
  options.fallback_options.connect_timeout = options.connect_timeout;
  options.fallback_options.request_timeout = options.request_timeout;
  options.fallback_options.operation_deadline = options.request_timeout;
  options.fallback_options.max_attempts = 3;
}

}  // namespace epochcache::arrowfs
