// Client::Create: checks the options and puts the client together from its parts (the worker
// connections, the membership view, the fallback under store).
#include "epochcache/client.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "client/client_impl.h"
#include "client/create_client.h"
#include "client/fallback.h"
#include "client/http_pool.h"
#include "membership/seeded_etcd_view.h"
#include "membership/views.h"

namespace epochcache {
namespace client {
namespace {

constexpr std::size_t kIoThreads = 2;

Status CheckOptions(const ClientOptions& options) {
  if (options.worker_hosts.empty() && options.etcd_endpoints.empty()) {
    return Status::InvalidArgument(
        "no workers given: expected worker host:port entries or etcd endpoints");
  }
  if (!options.worker_hosts.empty() && !options.etcd_endpoints.empty()) {
    return Status::InvalidArgument("give either worker hosts or etcd endpoints, not both");
  }
  for (const auto& host : options.worker_hosts) {
    EC_RETURN_IF_ERROR(SplitHostPort(host).status());
  }
  if (options.piece_size == 0) return Status::InvalidArgument("piece_size must be positive");
  if (options.block_size == 0 || options.block_size % options.piece_size != 0) {
    return Status::InvalidArgument(
        fmt::format("block_size ({}) must be a positive multiple of piece_size ({})",
                    options.block_size, options.piece_size));
  }
  if (options.max_parallel_requests == 0) {
    return Status::InvalidArgument("max_parallel_requests must be positive");
  }
  if (options.max_workers_per_key == 0) {
    return Status::InvalidArgument("max_workers_per_key must be positive");
  }
  if (options.connect_timeout.count() <= 0 || options.request_timeout.count() <= 0) {
    return Status::InvalidArgument("timeouts must be positive");
  }
  // A token goes into a header line: control characters would split it, and a space is never
  // part of a bearer token (RFC 6750). The message does not show the token.
  if (std::any_of(options.auth_token.begin(), options.auth_token.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u == 0x7f;
      })) {
    return Status::InvalidArgument(
        "auth_token contains a space, line break or other control character (a trailing "
        "newline from the token file?)");
  }
  if (options.breaker_backoff.count() <= 0 ||
      options.breaker_max_backoff < options.breaker_backoff) {
    return Status::InvalidArgument(
        "breaker_backoff must be positive and no longer than breaker_max_backoff");
  }
  return Status::Ok();
}

Result<std::unique_ptr<MembershipView>> OpenMembership(const ClientOptions& options, Clock& clock) {
  if (options.etcd_endpoints.empty()) return MakeStaticView(options.worker_hosts);
  EtcdOptions etcd;
  etcd.endpoints = options.etcd_endpoints;
  etcd.cluster = options.cluster;
  etcd.request_timeout = options.etcd_timeout;
  auto view = MakeEtcdView(etcd, options.membership_refresh, clock);
  if (view.ok() || options.seed_workers.empty()) return view;
  return MakeSeededEtcdView(std::move(etcd), options.membership_refresh, options.seed_workers,
                            clock);
}

}  // namespace

Result<std::unique_ptr<Client>> CreateClient(ClientOptions options, Clock& clock) {
  EC_RETURN_IF_ERROR(CheckOptions(options));
  std::unique_ptr<FallbackStores> fallback;
  if (options.fallback_store || !options.fallback_under_store.empty()) {
    EC_ASSIGN_OR_RETURN(
        fallback, FallbackStores::Create(options.fallback_under_store, options.fallback_options,
                                         options.fallback_store));
  }
  EC_ASSIGN_OR_RETURN(auto pool, HttpPool::Create(HttpPoolOptions{
                                     .connect_timeout = options.connect_timeout,
                                     .request_timeout = options.request_timeout,
                                     .max_parallel_requests = options.max_parallel_requests,
                                     .io_threads = kIoThreads,
                                     .auth_token = options.auth_token,
                                     .tls = options.tls,
                                     .tls_ca = options.tls_ca,
                                 }));
  EC_ASSIGN_OR_RETURN(auto membership, OpenMembership(options, clock));
  return MakeClientImpl(std::move(options), clock, std::move(membership), std::move(fallback),
                        std::move(pool));
}

}  // namespace client

Result<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  return client::CreateClient(std::move(options), Clock::Real());
}

}  // namespace epochcache
