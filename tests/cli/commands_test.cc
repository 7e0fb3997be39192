// Parsing of `epochcache` command lines (without running them) and the status/progress text.
#include "cli/commands.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "epochcache/version.h"

namespace epochcache::cli {
namespace {

struct Parsed {
  std::optional<int> code;
  std::string out;
  std::string err;
};

Parsed Parse(Commands& commands, std::vector<std::string> args) {
  Parsed p;
  p.code = commands.Parse(std::move(args), &p.out, &p.err);
  return p;
}

TEST(Commands, VersionPrintsTheProjectVersion) {
  Commands commands;
  Parsed p = Parse(commands, {"--version"});
  ASSERT_EQ(p.code, 0);
  EXPECT_NE(p.out.find(EPOCHCACHE_VERSION), std::string::npos) << p.out;
}

TEST(Commands, UnknownSubcommandIsNamedAndTheSubcommandsListed) {
  Commands commands;
  Parsed p = Parse(commands, {"lod", "/data"});
  ASSERT_EQ(p.code, 2);
  EXPECT_NE(p.err.find("unknown subcommand 'lod'"), std::string::npos) << p.err;
  for (const char* name : {"worker", "status", "ls", "stat", "cat", "load", "evict"}) {
    EXPECT_NE(p.err.find(name), std::string::npos) << name << " missing from: " << p.err;
  }
}

TEST(Commands, NoSubcommandIsAnError) {
  Commands commands;
  Parsed p = Parse(commands, {});
  ASSERT_TRUE(p.code.has_value());
  EXPECT_NE(*p.code, 0);
}

TEST(Commands, StatusTakesJsonAndTheWorkers) {
  Commands commands;
  Parsed p = Parse(commands, {"status", "--json", "--workers", "127.0.0.1:1,127.0.0.1:2"});
  ASSERT_FALSE(p.code.has_value()) << p.err;
  EXPECT_TRUE(commands.status.selected());
  EXPECT_TRUE(commands.status.json);
  auto options = commands.status.cluster.Options();
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->worker_hosts, (std::vector<std::string>{"127.0.0.1:1", "127.0.0.1:2"}));
  EXPECT_TRUE(options->etcd_endpoints.empty());
}

TEST(Commands, EtcdAndClusterAndTlsCa) {
  Commands commands;
  Parsed p = Parse(commands, {"ls", "s3://b/p", "--etcd", "127.0.0.1:2379", "--cluster", "c1",
                              "--tls-ca", "/ca.pem", "-R"});
  ASSERT_FALSE(p.code.has_value()) << p.err;
  EXPECT_EQ(commands.ls.path, "s3://b/p");
  EXPECT_TRUE(commands.ls.recursive);
  auto options = commands.ls.cluster.Options();
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->etcd_endpoints, (std::vector<std::string>{"127.0.0.1:2379"}));
  EXPECT_EQ(options->cluster, "c1");
  EXPECT_TRUE(options->tls);
  EXPECT_EQ(options->tls_ca, "/ca.pem");
}

TEST(Commands, WorkersMustComeFromExactlyOnePlace) {
  Commands both;
  ASSERT_FALSE(Parse(both, {"stat", "/x", "--etcd", "a:1", "--workers", "b:2"}).code);
  auto options = both.stat.cluster.Options();
  ASSERT_FALSE(options.ok());
  EXPECT_NE(options.status().message().find("--etcd"), std::string::npos);

  Commands neither;
  ASSERT_FALSE(Parse(neither, {"cat", "/x"}).code);
  EXPECT_FALSE(neither.cat.cluster.Options().ok());
}

TEST(Commands, LoadTakesManyPathsAndDryRun) {
  Commands commands;
  Parsed p = Parse(commands, {"load", "/a", "/b", "--dry-run", "--workers", "h:1",
                              "--inflight-per-worker", "8"});
  ASSERT_FALSE(p.code.has_value()) << p.err;
  EXPECT_EQ(commands.load.paths, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_TRUE(commands.load.dry_run);
  EXPECT_EQ(commands.load.inflight_per_worker, 8u);
  Commands bad;
  EXPECT_NE(Parse(bad, {"load", "/a", "--inflight-per-worker", "0"}).code, std::nullopt);
  Commands none;
  EXPECT_NE(Parse(none, {"load"}).code, std::nullopt);  // a path is required
}

TEST(Commands, EvictAndStatNeedAPath) {
  Commands a;
  EXPECT_NE(Parse(a, {"evict"}).code, std::nullopt);
  Commands b;
  ASSERT_FALSE(Parse(b, {"evict", "/a", "/b", "--workers", "h:1"}).code);
  EXPECT_EQ(b.evict.paths.size(), 2u);
}

TEST(Commands, TokenComesFromTheFileOrTheEnvironment) {
  const std::string file = ::testing::TempDir() + "/token";
  {
    std::FILE* f = std::fopen(file.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("s3cret-token\n", f);
    std::fclose(f);
  }
  Commands from_file;
  ASSERT_FALSE(Parse(from_file, {"status", "--workers", "h:1", "--auth-token-file", file}).code);
  auto options = from_file.status.cluster.Options();
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(options->auth_token, "s3cret-token");

  ::setenv("EPOCHCACHE_AUTH_TOKEN", "env-token", 1);
  Commands from_env;
  ASSERT_FALSE(Parse(from_env, {"status", "--workers", "h:1"}).code);
  auto env_options = from_env.status.cluster.Options();
  ::unsetenv("EPOCHCACHE_AUTH_TOKEN");
  ASSERT_TRUE(env_options.ok());
  EXPECT_EQ(env_options->auth_token, "env-token");

  Commands missing;
  ASSERT_FALSE(
      Parse(missing, {"status", "--workers", "h:1", "--auth-token-file", "/nonexistent"}).code);
  auto failed = missing.status.cluster.Options();
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("--auth-token-file"), std::string::npos);
}

TEST(StatusFormat, JsonAndTableShowUpAndDownWorkers) {
  std::vector<WorkerStatus> rows = {
      {.record = {.id = "w1", .address = "127.0.0.1:1", .capacity_bytes = 100, .start_time_ms = 0},
       .stats_json = R"({"version":"9.9.9","uptime_seconds":3700,"capacity_bytes":1073741824,)"
                     R"("used_bytes":1048576,"hit_ratio":0.75,"under_store_bytes":2048})",
       .error = {}},
      {.record = {.id = "w2", .address = "127.0.0.1:2", .capacity_bytes = 100, .start_time_ms = 0},
       .stats_json = {},
       .error = "unavailable: connection refused"},
  };
  auto j = nlohmann::json::parse(FormatStatus(rows, /*json=*/true));
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["up"], true);
  EXPECT_EQ(j[0]["used_bytes"], 1048576);
  EXPECT_EQ(j[0]["version"], "9.9.9");
  EXPECT_EQ(j[1]["up"], false);
  EXPECT_EQ(j[1]["error"], "unavailable: connection refused");

  const std::string table = FormatStatus(rows, /*json=*/false);
  EXPECT_NE(table.find("w1"), std::string::npos);
  EXPECT_NE(table.find("75%"), std::string::npos) << table;
  EXPECT_NE(table.find("1h1m"), std::string::npos) << table;
  EXPECT_NE(table.find("down"), std::string::npos);
  EXPECT_NE(table.find("connection refused"), std::string::npos);
}

TEST(ProgressFormat, ShowsFilesBytesRateAndEta) {
  LoadProgress p;
  p.files_total = 10;
  p.files_done = 5;
  p.bytes_total = 2 << 20;
  p.bytes_done = 1 << 20;
  const std::string line = FormatProgress(p, std::chrono::seconds(1));
  EXPECT_NE(line.find("files 5/10"), std::string::npos) << line;
  EXPECT_NE(line.find("1.0 MiB/2.0 MiB"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA 1s"), std::string::npos) << line;
}

}  // namespace
}  // namespace epochcache::cli
