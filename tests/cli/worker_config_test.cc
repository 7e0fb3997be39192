#include "cli/worker_config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli/flag_parsing.h"

namespace epochcache::cli {
namespace {
namespace fs = std::filesystem;

// A few flags of each kind, registered like the worker's.
class WorkerConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "ec-config-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    app_.add_option("--cache-dir", cache_dirs_);
    app_.add_option("--capacity", capacity_)->check(SizeValue());
    app_.add_option("--port", port_)->check(CLI::Range(0, 65535));
    app_.add_flag("--insecure", insecure_);
    app_.add_option("--under", unders_);
    app_.add_option("--s3-endpoint", endpoint_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<Setting> Settings() {
    return {{app_.get_option("--cache-dir"), &cache_dirs_},
            {app_.get_option("--capacity"), &capacity_},
            {app_.get_option("--port"), &port_},
            {app_.get_option("--insecure"), &insecure_},
            {app_.get_option("--under"), &unders_},
            {app_.get_option("--s3-endpoint"), &endpoint_}};
  }

  std::string Write(const std::string& text, mode_t mode = 0600) {
    std::string path = (dir_ / "c.toml").string();
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }

  void Parse(std::vector<std::string> args) {
    args.insert(args.begin(), "prog");
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    app_.parse(static_cast<int>(argv.size()), argv.data());
  }

  fs::path dir_;
  CLI::App app_;
  std::vector<std::string> cache_dirs_;
  std::string capacity_ = "10GiB";
  int port_ = 7411;
  bool insecure_ = false;
  std::vector<std::string> unders_;
  std::string endpoint_;
};

TEST_F(WorkerConfigTest, FileValuesApplyUnlessAFlagWasGiven) {
  Parse({"--port", "9000"});
  const auto path = Write(
      "cache_dirs = ['/a', '/b']\ncapacity = '2GiB'\nport = 8000\ninsecure = true\n"
      "[[under]]\nuri = 's3://x'\nendpoint = 'http://e:1'\n");
  auto roots = LoadWorkerConfig(path, Settings());
  ASSERT_TRUE(roots.ok()) << roots.status().ToString();
  EXPECT_EQ(cache_dirs_, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_EQ(capacity_, "2GiB");
  EXPECT_EQ(port_, 9000);  // the flag wins
  EXPECT_TRUE(insecure_);
  ASSERT_EQ(roots->size(), 1U);
  EXPECT_EQ(roots->front().uri, "s3://x");

  UnderStoreOptions global;
  global.s3.endpoint_url = "http://global:1";
  global.s3.region = "eu-west-1";
  const auto options = RootStoreOptions(global, roots->front());
  EXPECT_EQ(options.s3.endpoint_url, "http://e:1");
  EXPECT_EQ(options.s3.region, "eu-west-1");
}

TEST_F(WorkerConfigTest, ErrorsNameFileLineAndKey) {
  Parse({});
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\nport = 'x'\n", ":2: key 'port': expected an integer"},
      {"\n\ncapacity = 'huge'\n", ":3: key 'capacity':"},
      {"port = 70000\n", ":1: key 'port':"},
      {"nope = 1\n", ":1: key 'nope': unknown key"},
      {"cache_dir = ['/a']\ncache-dir = ['/b']\n",
       ":1: key 'cache_dir': the same setting as 'cache-dir'"},
      {"[[under]]\nuri = 's3://x'\nregion = 5\n", ":3: key 'under.region': expected a string"},
  };
  for (const auto& [text, expected] : cases) {
    const auto path = Write(text);
    auto roots = LoadWorkerConfig(path, Settings());
    ASSERT_FALSE(roots.ok()) << text;
    EXPECT_NE(roots.status().message().find(path + expected), std::string::npos)
        << roots.status().ToString();
  }
}

TEST_F(WorkerConfigTest, PrintedConfigHidesSecrets) {
  Parse({});
  const auto path = Write(
      "s3_endpoint = 'http://u:pw123@h:9000'\ncache_dir = ['/c']\n"
      "[[under]]\nuri = 's3://b'\naccess_key_id = 'AKIAID'\nsecret_access_key = 'sekrit'\n");
  auto roots = LoadWorkerConfig(path, Settings());
  ASSERT_TRUE(roots.ok()) << roots.status().ToString();
  const std::string printed = FormatConfig(Settings(), *roots);
  for (const char* secret : {"pw123", "sekrit", "AKIAID"}) {
    EXPECT_EQ(printed.find(secret), std::string::npos) << printed;
  }
  EXPECT_NE(printed.find("http://***@h:9000"), std::string::npos) << printed;
  EXPECT_NE(printed.find("secret_access_key = '<redacted>'"), std::string::npos) << printed;
}

TEST_F(WorkerConfigTest, SecretsInAReadableFileAreRefused) {
  Parse({});
  const auto path =
      Write("[[under]]\nuri = 's3://b'\naccess_key_id = 'A'\nsecret_access_key = 'S'\n", 0644);
  auto roots = LoadWorkerConfig(path, Settings());
  ASSERT_FALSE(roots.ok());
  EXPECT_NE(roots.status().message().find("chmod 600"), std::string::npos);
  EXPECT_EQ(roots.status().message().find("'S'"), std::string::npos);
}

}  // namespace
}  // namespace epochcache::cli
