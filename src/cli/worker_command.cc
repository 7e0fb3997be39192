#include "cli/worker_command.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <thread>

#include "cli/flag_parsing.h"
#include "cli/json_log_formatter.h"
#include "cli/worker_config.h"
#include "common/sizes.h"
#include "epochcache/membership.h"
#include "epochcache/page_store.h"
#include "epochcache/under_store.h"
#include "understore/multi_root_under_store.h"
#include "worker/http_server.h"
#include "worker/local_server.h"
#include "worker/read_service.h"

namespace epochcache::cli {
namespace {

// Writes `port` to `path` atomically (temp file + rename), so a reader polling the file never
// sees it half written.
Status WritePortFile(const std::string& path, std::uint16_t port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out.flush()) return Status::IoError("--port-file: cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::IoError("--port-file: cannot rename " + tmp + ": " + ec.message());
  return Status::Ok();
}

// The token is the file's contents without trailing whitespace (an editor's final newline).
// Errors name the file, never its contents.
Result<std::string> ReadTokenFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::InvalidArgument("--auth-token-file: cannot read " + path + ": " +
                                   std::strerror(errno));
  }
  std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Status::InvalidArgument("--auth-token-file: cannot read " + path);
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())) != 0) {
    token.pop_back();
  }
  if (token.empty()) return Status::InvalidArgument("--auth-token-file: " + path + " is empty");
  return token;
}

// Raises the soft descriptor limit to the hard one: every connection and every open page file
// takes a descriptor, and the common soft default (1024) is below --max-connections' default.
// Returns the limit in force.
rlim_t RaiseDescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) return raised.rlim_cur;
  }
  return limit.rlim_cur;
}

// Set by the HTTP server's fatal-error callback; read after the stop signal it raises.
std::atomic<bool> server_failed{false};

int Fail(const Status& status) {
  std::cerr << "epochcache worker: " << status.ToString() << "\n";
  return 1;
}

}  // namespace

WorkerCommand::WorkerCommand(CLI::App& app)
    : threads_(std::max(1U, std::thread::hardware_concurrency())) {
  command_ = app.add_subcommand("worker", "Serve this node's cache over HTTP (docs/api.md)");
  command_->footer(
      "The worker reads through to the under store on a miss and keeps pages in the cache "
      "dirs, which survive restarts. It stops on SIGINT/SIGTERM. Every flag can also be set "
      "with the environment variable EPOCHCACHE_<FLAG>, e.g. EPOCHCACHE_CACHE_DIR, and in the "
      "TOML file of --config (docs/configuration.md); a flag beats the variable, which beats "
      "the file.");
  command_
      ->add_option("--config", config_,
                   "TOML file with settings (keys are the flags without dashes) and [[under]] "
                   "tables of roots with per-root store options")
      ->envname("EPOCHCACHE_CONFIG");
  command_->add_flag("--print-config", print_config_,
                     "Print the effective configuration as TOML (secrets redacted) and exit");
  command_
      ->add_option("--cache-dir", cache_dirs_,
                   "Local directory for cached pages (created if missing); repeat for "
                   "several disks, each gets --capacity (required here or in --config)")
      ->envname("EPOCHCACHE_CACHE_DIR");
  command_
      ->add_option("--capacity", capacity_,
                   "Most bytes to keep in each cache dir, e.g. 500MiB, 10GiB, 2TB")
      ->capture_default_str()
      ->check(SizeValue())
      ->envname("EPOCHCACHE_CAPACITY");
  command_
      ->add_option(
          "--under", unders_,
          "Root of the under store the worker may read: file:///data (or /data), "
          "s3://bucket[/prefix], az://container[/prefix] (also abfs://, abfss://), "
          "gs://bucket[/prefix], hf://[datasets/|spaces/]namespace/name[@revision][/path] "
          "or http(s)://host[/prefix]; repeat for several roots (they "
          "may not repeat or nest). Paths outside every root are refused. Credentials come "
          "from the environment (AWS_*, AZURE_STORAGE_*, GS_HMAC_*, HF_TOKEN) or --config, never "
          "from "
          "flags. Given here, replaces the roots of --config")
      ->envname("EPOCHCACHE_UNDER");
  command_
      ->add_option("--host", host_,
                   "IP address (or host name) to listen on; a non-loopback address needs "
                   "--auth-token-file (or --insecure)")
      ->capture_default_str()
      ->envname("EPOCHCACHE_HOST");
  command_->add_option("--port", port_, "TCP port to listen on; 0 picks a free one")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535))
      ->envname("EPOCHCACHE_PORT");
  command_
      ->add_option("--port-file", port_file_,
                   "Write the bound port to this file once listening (use with --port 0)")
      ->envname("EPOCHCACHE_PORT_FILE");
  command_
      ->add_option("--page-size", page_size_,
                   "Size of a cached page; must match the pages already in the cache dirs")
      ->capture_default_str()
      ->check(SizeValue())
      ->envname("EPOCHCACHE_PAGE_SIZE");
  command_
      ->add_option("--eviction-policy", eviction_policy_,
                   "How a full cache chooses what to keep: lru or scan-resistant (keeps a "
                   "stable subset when the dataset is larger than the cache)")
      ->capture_default_str()
      ->envname("EPOCHCACHE_EVICTION_POLICY");
  command_
      ->add_option("--page-verify-interval", page_verify_interval_,
                   "How often a cached chunk's checksum is verified again while its page file "
                   "stays open (at once if the file was written to); 0 verifies every read")
      ->capture_default_str()
      ->check(DurationValue())
      ->envname("EPOCHCACHE_PAGE_VERIFY_INTERVAL");
  command_
      ->add_option("--max-open-pages", max_open_pages_,
                   "Page files kept open between reads (one descriptor each); 0 opens the file "
                   "for every read")
      ->capture_default_str()
      ->check(CLI::Range(0U, 1U << 20))
      ->envname("EPOCHCACHE_MAX_OPEN_PAGES");
  command_
      ->add_option("--local-socket", local_socket_,
                   "Unix socket on which clients on this host read cached pages without a TCP "
                   "round trip (their own user only; see docs/api.md); advertised in etcd. "
                   "Empty: off")
      ->envname("EPOCHCACHE_LOCAL_SOCKET");
  command_->add_option("--threads", threads_, "Network I/O threads (default: the number of CPUs)")
      ->check(CLI::Range(1U, 1024U))
      ->envname("EPOCHCACHE_THREADS");
  command_
      ->add_option("--metadata-ttl", metadata_ttl_,
                   "How long a file's status is reused before asking the under store "
                   "again, e.g. 10s, 500ms; 0 disables")
      ->capture_default_str()
      ->check(DurationValue())
      ->envname("EPOCHCACHE_METADATA_TTL");
  command_
      ->add_option("--metadata-max-stale", metadata_max_stale_,
                   "How long past --metadata-ttl a status is still served while it is refreshed "
                   "in the background; past that a request waits for the under store. 0 disables")
      ->capture_default_str()
      ->check(DurationValue())
      ->envname("EPOCHCACHE_METADATA_MAX_STALE");
  command_
      ->add_option("--metadata-cache-size", metadata_cache_size_,
                   "Memory for cached file statuses (least recently used dropped first)")
      ->capture_default_str()
      ->check(SizeValue())
      ->envname("EPOCHCACHE_METADATA_CACHE_SIZE");
  command_
      ->add_option("--idle-timeout", idle_timeout_,
                   "Close a connection that sends no complete request for this long")
      ->capture_default_str()
      ->check(DurationValue())
      ->envname("EPOCHCACHE_IDLE_TIMEOUT");
  command_
      ->add_option("--log-level", log_level_, "trace, debug, info, warn, error, critical or off")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->envname("EPOCHCACHE_LOG_LEVEL");
  command_
      ->add_option("--log-format", log_format_,
                   "text, or json: each log line one JSON object with time, level and message")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}))
      ->envname("EPOCHCACHE_LOG_FORMAT");
  AddSecurityOptions();
  AddUnderStoreOptions();
}

void WorkerCommand::AddSecurityOptions() {
  command_
      ->add_option("--auth-token-file", auth_token_file_,
                   "File holding the token clients must send as 'Authorization: Bearer <token>' "
                   "on every endpoint but /v1/health (trailing whitespace ignored)")
      ->envname("EPOCHCACHE_AUTH_TOKEN_FILE");
  command_
      ->add_flag("--insecure", insecure_,
                 "Allow listening on a non-loopback address without --auth-token-file: anyone "
                 "who reaches the port can read everything the worker can")
      ->envname("EPOCHCACHE_INSECURE");
  command_
      ->add_option("--max-connections", max_connections_,
                   "Connections served at once; past it a connection is answered 503")
      ->capture_default_str()
      ->check(CLI::Range(1U, 1000000U))
      ->envname("EPOCHCACHE_MAX_CONNECTIONS");
  command_
      ->add_option("--max-queued-requests", max_queued_requests_,
                   "Requests waiting for an under-store thread; past it a request is "
                   "answered 503 with Retry-After")
      ->capture_default_str()
      ->check(CLI::Range(0U, 1000000U))
      ->envname("EPOCHCACHE_MAX_QUEUED_REQUESTS");
  command_
      ->add_option("--response-timeout", response_timeout_,
                   "Longest time from a request being read to the last byte of its response; "
                   "past it the connection is closed")
      ->capture_default_str()
      ->check(DurationValue())
      ->envname("EPOCHCACHE_RESPONSE_TIMEOUT");
  command_
      ->add_option("--max-inflight-miss-bytes", max_inflight_miss_bytes_,
                   "Bytes fetched from the under store that may be held in memory at once, "
                   "across all requests; past it a miss is answered 503 with Retry-After")
      ->capture_default_str()
      ->check(SizeValue())
      ->envname("EPOCHCACHE_MAX_INFLIGHT_MISS_BYTES");
  // HTTPS: both or neither, checked after the config file is merged (MergeConfig).
  command_
      ->add_option("--tls-cert", tls_cert_,
                   "PEM certificate chain: serve HTTPS (only) on the port; needs --tls-key. A "
                   "non-loopback --host still needs --auth-token-file")
      ->envname("EPOCHCACHE_TLS_CERT");
  command_->add_option("--tls-key", tls_key_, "PEM private key of --tls-cert")
      ->envname("EPOCHCACHE_TLS_KEY");
}

void WorkerCommand::AddUnderStoreOptions() {
  command_
      ->add_option("--s3-endpoint", s3_endpoint_,
                   "S3-compatible endpoint URL, e.g. http://127.0.0.1:9000 (default: AWS). "
                   "Credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the "
                   "~/.aws profiles, never from flags")
      ->envname("EPOCHCACHE_S3_ENDPOINT");
  command_
      ->add_option("--s3-region", s3_region_,
                   "S3 region (default: AWS_REGION, the profile, else us-east-1)")
      ->envname("EPOCHCACHE_S3_REGION");
  command_
      ->add_option("--s3-profile", s3_profile_,
                   "AWS profile (default: AWS_PROFILE, else "
                   "default)")
      ->envname("EPOCHCACHE_S3_PROFILE");
  command_
      ->add_option("--s3-addressing", s3_addressing_,
                   "S3 URL style: path, virtual, or auto (path-style for a custom endpoint)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "path", "virtual"}))
      ->envname("EPOCHCACHE_S3_ADDRESSING");
  command_->add_flag("--s3-anonymous", s3_anonymous_, "Send unsigned requests (public buckets)")
      ->envname("EPOCHCACHE_S3_ANONYMOUS");
  command_
      ->add_option("--under-connect-timeout", under_connect_timeout_,
                   "Deadline to connect to a remote under store")
      ->capture_default_str()
      ->check(DurationValue())
      ->envname("EPOCHCACHE_UNDER_CONNECT_TIMEOUT");
  command_
      ->add_option("--under-timeout", under_timeout_,
                   "Deadline of one request to a remote under store")
      ->capture_default_str()
      ->check(DurationValue())
      ->envname("EPOCHCACHE_UNDER_TIMEOUT");
  command_
      ->add_option("--under-deadline", under_deadline_,
                   "Deadline of one under-store operation, all its retries included")
      ->capture_default_str()
      ->check(DurationValue())
      ->envname("EPOCHCACHE_UNDER_DEADLINE");
  command_
      ->add_option("--under-attempts", under_attempts_,
                   "Most attempts of one remote under-store request (retries back off)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100))
      ->envname("EPOCHCACHE_UNDER_ATTEMPTS");
  AddClusterOptions();
}

void WorkerCommand::AddClusterOptions() {
  command_
      ->add_option("--etcd", etcd_,
                   "etcd endpoints (host:port, comma-separated) to register this worker in, so "
                   "clients given etcd_hosts find it; without it the worker is found only by "
                   "its address")
      ->envname("EPOCHCACHE_ETCD");
  command_
      ->add_option("--cluster", cluster_,
                   "Cluster name: workers register under /epochcache/<cluster>/workers/ in etcd")
      ->capture_default_str()
      ->envname("EPOCHCACHE_CLUSTER");
  command_
      ->add_option("--advertise", advertise_,
                   "host:port clients should connect to (default: --host and the bound port; "
                   "required when --host is 0.0.0.0 and --etcd is given)")
      ->envname("EPOCHCACHE_ADVERTISE");
  command_
      ->add_option("--lease-ttl", lease_ttl_,
                   "How long etcd keeps this worker's record after it stops renewing it")
      ->capture_default_str()
      ->check(DurationValue())
      ->envname("EPOCHCACHE_LEASE_TTL");
}

Result<UnderStoreOptions> WorkerCommand::UnderOptions() const {
  UnderStoreOptions options;
  options.s3.endpoint_url = s3_endpoint_;
  options.s3.region = s3_region_;
  options.s3.profile = s3_profile_;
  options.s3.addressing = s3_addressing_;
  options.s3.anonymous = s3_anonymous_;
  EC_ASSIGN_OR_RETURN(options.connect_timeout,
                      ParseDurationFlag("--under-connect-timeout", under_connect_timeout_));
  EC_ASSIGN_OR_RETURN(options.request_timeout,
                      ParseDurationFlag("--under-timeout", under_timeout_));
  EC_ASSIGN_OR_RETURN(options.operation_deadline,
                      ParseDurationFlag("--under-deadline", under_deadline_));
  options.max_attempts = under_attempts_;
  return options;
}

std::vector<Setting> WorkerCommand::Settings() {
  auto opt = [&](const char* name) { return command_->get_option(name); };
  return {
      {opt("--cache-dir"), &cache_dirs_},
      {opt("--capacity"), &capacity_},
      {opt("--under"), &unders_},
      {opt("--host"), &host_},
      {opt("--port"), &port_},
      {opt("--port-file"), &port_file_},
      {opt("--page-size"), &page_size_},
      {opt("--eviction-policy"), &eviction_policy_},
      {opt("--page-verify-interval"), &page_verify_interval_},
      {opt("--max-open-pages"), &max_open_pages_},
      {opt("--local-socket"), &local_socket_},
      {opt("--threads"), &threads_},
      {opt("--metadata-ttl"), &metadata_ttl_},
      {opt("--metadata-max-stale"), &metadata_max_stale_},
      {opt("--metadata-cache-size"), &metadata_cache_size_},
      {opt("--idle-timeout"), &idle_timeout_},
      {opt("--log-level"), &log_level_},
      {opt("--log-format"), &log_format_},
      {opt("--auth-token-file"), &auth_token_file_},
      {opt("--insecure"), &insecure_},
      {opt("--max-connections"), &max_connections_},
      {opt("--max-queued-requests"), &max_queued_requests_},
      {opt("--response-timeout"), &response_timeout_},
      {opt("--max-inflight-miss-bytes"), &max_inflight_miss_bytes_},
      {opt("--tls-cert"), &tls_cert_},
      {opt("--tls-key"), &tls_key_},
      {opt("--s3-endpoint"), &s3_endpoint_},
      {opt("--s3-region"), &s3_region_},
      {opt("--s3-profile"), &s3_profile_},
      {opt("--s3-addressing"), &s3_addressing_},
      {opt("--s3-anonymous"), &s3_anonymous_},
      {opt("--under-connect-timeout"), &under_connect_timeout_},
      {opt("--under-timeout"), &under_timeout_},
      {opt("--under-deadline"), &under_deadline_},
      {opt("--under-attempts"), &under_attempts_},
      {opt("--etcd"), &etcd_},
      {opt("--cluster"), &cluster_},
      {opt("--advertise"), &advertise_},
      {opt("--lease-ttl"), &lease_ttl_},
  };
}

Result<std::vector<RootConfig>> WorkerCommand::MergeConfig() {
  std::vector<RootConfig> roots;
  if (!config_.empty()) {
    EC_ASSIGN_OR_RETURN(roots, LoadWorkerConfig(config_, Settings()));
  }
  // Roots given as flags (or EPOCHCACHE_UNDER) replace the file's, like any other key.
  if (command_->get_option("--under")->count() > 0) {
    roots.clear();
    for (const auto& uri : unders_) {
      RootConfig root;
      root.uri = uri;
      roots.push_back(std::move(root));
    }
  }
  unders_.clear();
  for (const auto& root : roots) unders_.push_back(root.uri);
  if (print_config_) return roots;  // shown even when incomplete, to see what is missing
  if (cache_dirs_.empty()) {
    return Status::InvalidArgument("--cache-dir is required (or cache_dir in --config)");
  }
  if (roots.empty()) {
    return Status::InvalidArgument("--under is required (or [[under]] tables in --config)");
  }
  if (tls_cert_.empty() != tls_key_.empty()) {
    return Status::InvalidArgument("--tls-cert and --tls-key go together: give both or neither");
  }
  return roots;
}

std::string WorkerCommand::AdvertisedAddress(std::uint16_t port) const {
  return advertise_.empty() ? host_ + ":" + std::to_string(port) : advertise_;
}

Result<std::unique_ptr<WorkerRegistration>> WorkerCommand::Register(
    std::uint16_t port, std::uint64_t capacity, const std::string& local_socket) {
  EtcdOptions options;
  for (std::string_view rest = etcd_; !rest.empty();) {
    const auto comma = rest.find(',');
    std::string endpoint(rest.substr(0, comma));
    if (!endpoint.empty()) options.endpoints.push_back(std::move(endpoint));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  if (options.endpoints.empty()) return Status::InvalidArgument("--etcd: no endpoints given");
  options.cluster = cluster_;
  EC_ASSIGN_OR_RETURN(const auto ttl, ParseDurationFlag("--lease-ttl", lease_ttl_));
  options.lease_ttl = std::chrono::duration_cast<std::chrono::seconds>(ttl);
  if (advertise_.empty() && (host_ == "0.0.0.0" || host_ == "::")) {
    return Status::InvalidArgument(
        "--advertise: needed with --etcd when --host listens on every address, so clients "
        "know which address to use");
  }
  const std::string address = AdvertisedAddress(port);
  WorkerRecord record;
  EC_ASSIGN_OR_RETURN(record.id, LoadOrCreateWorkerId(cache_dirs_.front()));
  record.address = address;
  record.capacity_bytes = capacity;
  record.local_socket = local_socket;
  record.start_time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  spdlog::info("worker id {} advertises {} in cluster '{}' via etcd {}", record.id, address,
               cluster_, etcd_);
  return WorkerRegistration::Start(std::move(options), std::move(record));
}

int WorkerCommand::Run() {
  auto roots = MergeConfig();
  if (!roots.ok()) return Fail(roots.status());
  if (print_config_) {
    std::cout << FormatConfig(Settings(), *roots);
    return 0;
  }
  spdlog::set_level(spdlog::level::from_str(log_level_));
  if (log_format_ == "json") spdlog::set_formatter(std::make_unique<JsonLogFormatter>());

  auto capacity = ParseSizeFlag("--capacity", capacity_);
  if (!capacity.ok()) return Fail(capacity.status());
  auto page_size = ParseSizeFlag("--page-size", page_size_);
  if (!page_size.ok()) return Fail(page_size.status());
  if (*page_size == 0) return Fail(Status::InvalidArgument("--page-size: must be positive"));
  auto ttl = ParseDurationFlag("--metadata-ttl", metadata_ttl_);
  if (!ttl.ok()) return Fail(ttl.status());
  auto max_stale = ParseDurationFlag("--metadata-max-stale", metadata_max_stale_);
  if (!max_stale.ok()) return Fail(max_stale.status());
  auto verify_interval = ParseDurationFlag("--page-verify-interval", page_verify_interval_);
  if (!verify_interval.ok()) return Fail(verify_interval.status());
  auto idle = ParseDurationFlag("--idle-timeout", idle_timeout_);
  if (!idle.ok()) return Fail(idle.status());
  auto policy = ParseEvictionPolicy(eviction_policy_);
  if (!policy.ok()) return Fail(policy.status().WithContext("--eviction-policy"));
  auto response_timeout = ParseDurationFlag("--response-timeout", response_timeout_);
  if (!response_timeout.ok()) return Fail(response_timeout.status());
  if (response_timeout->count() <= 0) {
    return Fail(Status::InvalidArgument("--response-timeout: must be positive"));
  }
  auto metadata_bytes = ParseSizeFlag("--metadata-cache-size", metadata_cache_size_);
  if (!metadata_bytes.ok()) return Fail(metadata_bytes.status());
  auto miss_budget = ParseSizeFlag("--max-inflight-miss-bytes", max_inflight_miss_bytes_);
  if (!miss_budget.ok()) return Fail(miss_budget.status());
  std::string token;
  if (!auth_token_file_.empty()) {
    auto read = ReadTokenFile(auth_token_file_);
    if (!read.ok()) return Fail(read.status());
    token = std::move(read).value();
  }
  // Before anything is opened: a worker that would expose the bucket refuses at once.
  Status exposure = worker::CheckListenPolicy(host_, !token.empty(), insecure_);
  if (!exposure.ok()) return Fail(exposure);

  // Block the stop signals before any thread starts, so every thread inherits the mask and
  // only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto under_options = UnderOptions();
  if (!under_options.ok()) return Fail(under_options.status());
  std::vector<UnderRootSpec> root_specs;
  for (const auto& root : *roots) {
    root_specs.push_back({root.uri, RootStoreOptions(*under_options, root)});
  }
  auto under = MultiRootUnderStore::Open(root_specs);
  if (!under.ok()) return Fail(under.status().WithContext("--under"));

  PageStoreOptions store_options;
  store_options.page_size = *page_size;
  store_options.eviction_policy = *policy;
  store_options.verify_interval = *verify_interval;
  store_options.max_open_pages = max_open_pages_;
  for (const auto& dir : cache_dirs_) store_options.dirs.push_back({dir, *capacity});
  auto pages = PageStore::Open(store_options);
  if (!pages.ok()) return Fail(pages.status().WithContext("--cache-dir"));

  worker::ReadServiceOptions read_options;
  read_options.metadata_ttl = *ttl;
  read_options.metadata_max_stale = *max_stale;
  read_options.max_inflight_miss_bytes = *miss_budget;
  read_options.metadata_max_bytes = *metadata_bytes;
  read_options.roots = (*under)->roots();  // user info redacted, for /v1/stats
  worker::ReadService service(**under, **pages, read_options);

  const rlim_t descriptors = RaiseDescriptorLimit();
  if (descriptors != 0 && descriptors != RLIM_INFINITY &&
      std::uint64_t{max_connections_} + max_open_pages_ >= descriptors) {
    spdlog::warn(
        "--max-connections {} plus --max-open-pages {} is not below the descriptor limit {}: "
        "past the limit new connections wait in the listen backlog instead of being answered "
        "503, and page reads can fail",
        max_connections_, max_open_pages_, descriptors);
  }
  worker::HttpServerOptions server_options;
  server_options.host = host_;
  server_options.port = static_cast<std::uint16_t>(port_);
  server_options.io_threads = threads_;
  server_options.idle_timeout = *idle;
  server_options.auth_token = std::move(token);
  server_options.insecure = insecure_;
  server_options.max_connections = max_connections_;
  server_options.max_queued_requests = max_queued_requests_;
  server_options.response_timeout = *response_timeout;
  server_options.tls_cert_file = tls_cert_;
  server_options.tls_key_file = tls_key_;
  // The server has stopped serving: wake the sigwait below to shut down, and exit non-zero.
  server_options.on_fatal = [](const std::string&) {
    server_failed = true;
    kill(getpid(), SIGTERM);
  };
  auto server = worker::HttpServer::Start(service, server_options);
  if (!server.ok()) return Fail(server.status());
  const std::uint16_t port = (*server)->port();

  std::string dirs;
  for (const auto& dir : cache_dirs_) dirs += (dirs.empty() ? "" : ", ") + dir;
  spdlog::info(
      "worker serving [{}] on {}:{}; cache dirs [{}] of {} each, {} pages; {} threads; "
      "authentication {}; {}",
      fmt::join((*under)->roots(), ", "), host_, port, dirs, FormatSize(*capacity),
      FormatSize(*page_size), threads_, auth_token_file_.empty() ? "off" : "by bearer token",
      tls_cert_.empty() ? "plain HTTP" : "HTTPS");
  if (!port_file_.empty()) {
    Status written = WritePortFile(port_file_, port);
    if (!written.ok()) return Fail(written);
  }
  // Before registering, so that the record never names a socket nobody answers on.
  std::unique_ptr<worker::LocalServer> local;
  std::string local_socket;
  if (!local_socket_.empty()) {
    std::error_code ec;
    local_socket = std::filesystem::absolute(local_socket_, ec).lexically_normal().string();
    if (ec) local_socket = local_socket_;
    worker::LocalServerOptions local_options;
    local_options.path = local_socket;
    local_options.advertised_address = AdvertisedAddress(port);
    local_options.auth_token = server_options.auth_token;
    // Clients keep page files no longer than a page goes unverified here.
    local_options.keep = std::min<std::chrono::milliseconds>(
        local_options.keep,
        std::chrono::duration_cast<std::chrono::milliseconds>(*verify_interval));
    auto started = worker::LocalServer::Start(service, local_options);
    if (!started.ok()) return Fail(started.status());
    local = std::move(started).value();
  }
  std::cout << "listening on " << host_ << ":" << port << std::endl;

  // Registered after the server listens, so clients never find a worker that cannot answer;
  // destroyed (the lease revoked) before the server stops.
  std::unique_ptr<WorkerRegistration> registration;
  if (!etcd_.empty()) {
    auto started = Register(port, *capacity * cache_dirs_.size(), local_socket);
    if (!started.ok()) return Fail(started.status());
    registration = std::move(started).value();
  }

  int signal = 0;
  sigwait(&stop_signals, &signal);
  if (!server_failed) {
    spdlog::info("received {}, shutting down", signal == SIGINT ? "SIGINT" : "SIGTERM");
  }
  registration.reset();
  if (local) local->Stop();
  (*server)->Stop();
  if (server_failed) {
    return Fail(Status::Internal("the HTTP server stopped after an unexpected error (see above)"));
  }
  return 0;
}

}  // namespace epochcache::cli
