#include "understore/hf_api.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace epochcache {
namespace {

TEST(HfApi, TreePageWithFilesLfsAndDirectories) {
  const char* json = R"([
    {"type":"file","oid":"aaa","size":12,"path":"README.md"},
    {"type":"file","oid":"bbb","size":4567,"path":"data/train.parquet",
     "lfs":{"oid":"sha256hex","size":4567,"pointerSize":134}},
    {"type":"directory","oid":"ccc","size":0,"path":"data/sub"}
  ])";
  auto entries = ParseHfTreePage(json);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(entries->size(), 3U);
  EXPECT_EQ((*entries)[0], (HfTreeEntry{"README.md", false, 12, "aaa"}));
  EXPECT_EQ((*entries)[1], (HfTreeEntry{"data/train.parquet", false, 4567, "sha256hex"}));
  EXPECT_EQ((*entries)[2], (HfTreeEntry{"data/sub", true, 0, "ccc"}));
}

TEST(HfApi, MalformedTreeAnswersAreIoErrors) {
  for (const char* json : {"{}", "not json", R"([{"type":"file","path":"x"}])",
                           R"([{"type":"symlink","path":"x","size":1}])", R"([{"path":"x"}])",
                           R"([{"type":"file","path":"x","size":-1}])"}) {
    auto entries = ParseHfTreePage(json);
    ASSERT_FALSE(entries.ok()) << json;
    EXPECT_EQ(entries.status().code(), StatusCode::kIoError) << json;
  }
  auto empty = ParseHfTreePage("[]");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(HfApi, RevisionShaMustBeACommitId) {
  const std::string sha(40, 'a');
  auto ok = ParseHfRevisionSha(R"({"id":"org/name","sha":")" + sha + R"("})");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(*ok, sha);
  for (const char* json : {R"({"sha":"main"})", R"({"sha":"../../x"})", R"({})", "[]",
                           R"({"sha":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})"}) {
    EXPECT_FALSE(ParseHfRevisionSha(json).ok()) << json;
  }
  EXPECT_TRUE(IsHfCommit(std::string(64, '0')));
  EXPECT_FALSE(IsHfCommit(std::string(39, '0')));
}

TEST(HfApi, LinkHeaderNextPage) {
  EXPECT_EQ(HfNextPageUrl(R"(<https://hub/api/datasets/o/n/tree/abc?cursor=XYZ%3D>; rel="next")"),
            "https://hub/api/datasets/o/n/tree/abc?cursor=XYZ%3D");
  EXPECT_EQ(HfNextPageUrl(R"(<https://a/prev>; rel="prev", <https://a/next?c=1>; rel=next)"),
            "https://a/next?c=1");
  EXPECT_EQ(HfNextPageUrl(R"(<https://a/x>; title="t"; REL="last next")"), "https://a/x");
  EXPECT_FALSE(HfNextPageUrl("").has_value());
  EXPECT_FALSE(HfNextPageUrl(R"(<https://a/prev>; rel="prev")").has_value());
  EXPECT_FALSE(HfNextPageUrl("<https://a/unterminated; rel=next").has_value());
}

class HfSettingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : kNames) unsetenv(name);  // NOLINT(concurrency-mt-unsafe)
    dir_ = std::filesystem::temp_directory_path() /
           ("hf_settings_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    setenv("HOME", dir_.c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
  }
  void TearDown() override {
    for (const char* name : kNames) unsetenv(name);  // NOLINT(concurrency-mt-unsafe)
    std::filesystem::remove_all(dir_);
  }
  static constexpr const char* kNames[] = {"HF_TOKEN",       "HF_TOKEN_PATH",
                                           "HF_HOME",        "HF_ENDPOINT",
                                           "XDG_CACHE_HOME", "EPOCHCACHE_HF_REVISION_TTL"};
  std::filesystem::path dir_;
};

TEST_F(HfSettingsTest, DefaultsAndTokenSources) {
  auto s = LoadHfSettings();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->endpoint, "https://huggingface.co");
  EXPECT_EQ(s->token, "");
  EXPECT_EQ(s->revision_ttl, std::chrono::seconds(10));

  std::filesystem::create_directories(dir_ / ".cache/huggingface");
  std::ofstream(dir_ / ".cache/huggingface/token") << "hf_fromfile\n";
  s = LoadHfSettings();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->token, "hf_fromfile");

  setenv("HF_HOME", (dir_ / "other").c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
  std::filesystem::create_directories(dir_ / "other");
  std::ofstream(dir_ / "other/token") << "hf_home\n";
  s = LoadHfSettings();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->token, "hf_home");

  std::ofstream(dir_ / "explicit") << "hf_path";
  setenv("HF_TOKEN_PATH", (dir_ / "explicit").c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
  s = LoadHfSettings();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->token, "hf_path");

  setenv("HF_TOKEN", "hf_env", 1);                     // NOLINT(concurrency-mt-unsafe)
  setenv("HF_ENDPOINT", "http://127.0.0.1:8080/", 1);  // NOLINT(concurrency-mt-unsafe)
  setenv("EPOCHCACHE_HF_REVISION_TTL", "2", 1);        // NOLINT(concurrency-mt-unsafe)
  s = LoadHfSettings();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->token, "hf_env");
  EXPECT_EQ(s->token_source, "HF_TOKEN");
  EXPECT_EQ(s->endpoint, "http://127.0.0.1:8080");
  EXPECT_EQ(s->revision_ttl, std::chrono::seconds(2));
}

TEST_F(HfSettingsTest, BadValuesAreRefusedWithoutShowingTheToken) {
  setenv("HF_TOKEN", "hf_secret value", 1);  // NOLINT(concurrency-mt-unsafe)
  auto s = LoadHfSettings();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message().find("secret"), std::string::npos) << s.status().message();
  unsetenv("HF_TOKEN");                 // NOLINT(concurrency-mt-unsafe)
  setenv("HF_ENDPOINT", "ftp://x", 1);  // NOLINT(concurrency-mt-unsafe)
  EXPECT_EQ(LoadHfSettings().status().code(), StatusCode::kInvalidArgument);
  setenv("HF_ENDPOINT", "http://u:pw@host", 1);  // NOLINT(concurrency-mt-unsafe)
  s = LoadHfSettings();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message().find("pw"), std::string::npos);
  unsetenv("HF_ENDPOINT");                         // NOLINT(concurrency-mt-unsafe)
  setenv("EPOCHCACHE_HF_REVISION_TTL", "10s", 1);  // NOLINT(concurrency-mt-unsafe)
  EXPECT_EQ(LoadHfSettings().status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace epochcache
