// `epochcache worker`: serves this node's cache over HTTP until SIGINT or SIGTERM.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cli/worker_config.h"
#include "epochcache/membership.h"
#include "epochcache/status.h"
#include "epochcache/under_store.h"

namespace epochcache::cli {

class WorkerCommand {
 public:
  // Registers the subcommand and its flags (each also read from EPOCHCACHE_<FLAG>).
  explicit WorkerCommand(CLI::App& app);

  [[nodiscard]] bool selected() const { return command_->parsed(); }
  // Runs the worker; returns the process exit code.
  int Run();

 private:
  void AddSecurityOptions();
  void AddUnderStoreOptions();
  void AddClusterOptions();
  // Every flag that has a config-file key, with the variable it sets.
  [[nodiscard]] std::vector<Setting> Settings();
  // The roots to serve: --under / EPOCHCACHE_UNDER if given, else the config file's.
  Result<std::vector<RootConfig>> MergeConfig();
  [[nodiscard]] Result<UnderStoreOptions> UnderOptions() const;
  // Starts keeping this worker's record in etcd (--etcd).
  Result<std::unique_ptr<WorkerRegistration>> Register(std::uint16_t port, std::uint64_t capacity,
                                                       const std::string& local_socket);
  // The "host:port" clients are told to use: --advertise, or --host and the bound port.
  [[nodiscard]] std::string AdvertisedAddress(std::uint16_t port) const;

  CLI::App* command_;
  std::vector<std::string> cache_dirs_;
  std::string capacity_ = "10GiB";
  std::vector<std::string> unders_;
  std::string host_ = "127.0.0.1";
  int port_ = 7411;
  std::string port_file_;
  std::string page_size_ = "1MiB";
  std::string eviction_policy_ = "scan-resistant";
  std::string page_verify_interval_ = "60s";
  unsigned max_open_pages_ = 1024;
  unsigned threads_;
  std::string metadata_ttl_ = "10s";
  std::string metadata_max_stale_ = "60s";
  std::string metadata_cache_size_ = "64MiB";
  std::string idle_timeout_ = "60s";
  std::string log_level_ = "info";
  std::string log_format_ = "text";
  std::string config_;
  bool print_config_ = false;
  // Who may connect, and how much they may hold.
  std::string auth_token_file_;
  bool insecure_ = false;
  unsigned max_connections_ = 1024;
  unsigned max_queued_requests_ = 256;
  std::string response_timeout_ = "120s";
  std::string max_inflight_miss_bytes_ = "256MiB";
  std::string tls_cert_;
  std::string tls_key_;
  // Under-store connection (S3 credentials come from the AWS environment, never from flags).
  std::string s3_endpoint_;
  std::string s3_region_;
  std::string s3_profile_;
  std::string s3_addressing_ = "auto";
  bool s3_anonymous_ = false;
  std::string under_connect_timeout_ = "3s";
  std::string under_timeout_ = "30s";
  std::string under_deadline_ = "60s";
  int under_attempts_ = 5;
  // Cluster membership (optional): register in etcd so clients find this worker.
  std::string etcd_;
  std::string cluster_ = "default";
  std::string advertise_;
  std::string local_socket_;
  std::string lease_ttl_ = "10s";
};

}  // namespace epochcache::cli
