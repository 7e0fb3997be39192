#include "cli/cluster_flags.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iterator>

namespace epochcache::cli {
namespace {

// The token is the file's contents without trailing whitespace (an editor's final newline).
Result<std::string> ReadToken(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument("--auth-token-file: cannot read " + path);
  std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())) != 0) {
    token.pop_back();
  }
  if (token.empty()) return Status::InvalidArgument("--auth-token-file: " + path + " is empty");
  return token;
}

}  // namespace

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    if (comma > start) out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

ClusterFlags::ClusterFlags(CLI::App& command) {
  command.add_option("--etcd", etcd, "etcd endpoints (host:port,...) where workers register")
      ->envname("EPOCHCACHE_ETCD");
  command.add_option("--cluster", cluster, "cluster name in etcd")
      ->envname("EPOCHCACHE_CLUSTER")
      ->capture_default_str();
  command.add_option("--workers", workers, "worker addresses (host:port,...) instead of etcd")
      ->envname("EPOCHCACHE_WORKERS");
  command
      .add_option("--auth-token-file", auth_token_file,
                  "file holding the workers' bearer token (or EPOCHCACHE_AUTH_TOKEN)")
      ->envname("EPOCHCACHE_AUTH_TOKEN_FILE");
  command.add_option("--tls-ca", tls_ca, "PEM CA bundle that signed the workers' certificates")
      ->envname("EPOCHCACHE_TLS_CA");
}

Result<ClientOptions> ClusterFlags::Options() const {
  ClientOptions options;
  options.worker_hosts = SplitList(workers);
  options.etcd_endpoints = SplitList(etcd);
  options.cluster = cluster;
  if (options.worker_hosts.empty() == options.etcd_endpoints.empty()) {
    return Status::InvalidArgument(
        "give the workers with exactly one of --etcd HOSTS or --workers HOST:PORT,...");
  }
  if (!auth_token_file.empty()) {
    EC_ASSIGN_OR_RETURN(options.auth_token, ReadToken(auth_token_file));
  } else if (const char* token = std::getenv("EPOCHCACHE_AUTH_TOKEN"); token != nullptr) {
    options.auth_token = token;
  }
  if (!tls_ca.empty()) {
    options.tls = true;
    options.tls_ca = tls_ca;
  }
  // A load of a large block may wait behind the worker's miss queue.
  options.request_timeout = std::chrono::milliseconds(120000);
  return options;
}

Result<std::unique_ptr<Client>> ClusterFlags::Connect() const {
  EC_ASSIGN_OR_RETURN(ClientOptions options, Options());
  return Client::Create(std::move(options));
}

}  // namespace epochcache::cli
