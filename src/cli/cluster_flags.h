// The flags every client-side subcommand shares to find and reach the workers (--etcd or
// --workers, --cluster, --auth-token-file, --tls-ca), and the native client built from them.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "epochcache/client.h"
#include "epochcache/status.h"

namespace epochcache::cli {

class ClusterFlags {
 public:
  // Registers the flags on `command` (each also read from EPOCHCACHE_<FLAG>).
  explicit ClusterFlags(CLI::App& command);

  // The client options the flags describe; InvalidArgument names the flag that is wrong.
  [[nodiscard]] Result<ClientOptions> Options() const;
  // A client for them.
  [[nodiscard]] Result<std::unique_ptr<Client>> Connect() const;

  std::string etcd;
  std::string cluster = "default";
  std::string workers;
  std::string auth_token_file;
  std::string tls_ca;
};

// Splits "a,b,,c" into {"a","b","c"}.
std::vector<std::string> SplitList(const std::string& text);

}  // namespace epochcache::cli
