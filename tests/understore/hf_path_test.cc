#include "understore/hf_path.h"

#include <gtest/gtest.h>

namespace epochcache {
namespace {

TEST(HfPath, DatasetWithRevisionAndPath) {
  auto loc = ParseHfUri("hf://datasets/org/name@v1.0/data/train.parquet");
  ASSERT_TRUE(loc.ok()) << loc.status().ToString();
  EXPECT_EQ(loc->type, HfRepoType::kDataset);
  EXPECT_EQ(loc->repo_id, "org/name");
  EXPECT_EQ(loc->revision, "v1.0");
  EXPECT_EQ(loc->repo_part, "datasets/org/name@v1.0");
  EXPECT_EQ(loc->path, "data/train.parquet");
  EXPECT_EQ(HfEffectiveRevision(*loc), "v1.0");
}

TEST(HfPath, ModelsHaveNoPrefixAndRevisionDefaultsToMain) {
  auto loc = ParseHfUri("hf://org/model/config.json");
  ASSERT_TRUE(loc.ok()) << loc.status().ToString();
  EXPECT_EQ(loc->type, HfRepoType::kModel);
  EXPECT_EQ(loc->repo_id, "org/model");
  EXPECT_EQ(loc->revision, "");
  EXPECT_EQ(HfEffectiveRevision(*loc), "main");
  EXPECT_EQ(loc->path, "config.json");
  EXPECT_EQ(HfApiSegment(loc->type), "models");
  EXPECT_EQ(HfUrlPrefix(loc->type), "");
}

TEST(HfPath, SpacesAndRepositoryRoot) {
  auto loc = ParseHfUri("hf://spaces/org/app");
  ASSERT_TRUE(loc.ok()) << loc.status().ToString();
  EXPECT_EQ(loc->type, HfRepoType::kSpace);
  EXPECT_EQ(loc->path, "");
  EXPECT_EQ(HfApiSegment(loc->type), "spaces");
  EXPECT_EQ(HfUrlPrefix(loc->type), "spaces/");
  auto trailing = ParseHfUri("hf://datasets/org/name@main/");
  ASSERT_TRUE(trailing.ok());
  EXPECT_EQ(trailing->path, "");
  EXPECT_EQ(trailing->revision, "main");
}

TEST(HfPath, EncodedRevisionIsDecodedOnce) {
  auto loc = ParseHfUri("hf://datasets/org/name@feature%2Fx/a/b.txt");
  ASSERT_TRUE(loc.ok()) << loc.status().ToString();
  EXPECT_EQ(loc->revision, "feature/x");
  EXPECT_EQ(loc->repo_part, "datasets/org/name@feature%2Fx");
  EXPECT_EQ(loc->path, "a/b.txt");
  auto twice = ParseHfUri("hf://datasets/org/name@a%252Fb/x");
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(twice->revision, "a%2Fb");
}

TEST(HfPath, SpecialRefsKeepTheirSlashes) {
  auto pr = ParseHfUri("hf://datasets/org/name@refs/pr/12/data/x.txt");
  ASSERT_TRUE(pr.ok()) << pr.status().ToString();
  EXPECT_EQ(pr->revision, "refs/pr/12");
  EXPECT_EQ(pr->path, "data/x.txt");
  auto convert = ParseHfUri("hf://datasets/org/name@refs/convert/parquet/default/train/0.parquet");
  ASSERT_TRUE(convert.ok());
  EXPECT_EQ(convert->revision, "refs/convert/parquet");
  EXPECT_EQ(convert->path, "default/train/0.parquet");
  // Not a special ref: the revision ends at the first '/'.
  auto plain = ParseHfUri("hf://datasets/org/name@refs/heads/x");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->revision, "refs");
  EXPECT_EQ(plain->path, "heads/x");
}

TEST(HfPath, BadFormsAreInvalidArgumentNamingTheProblem) {
  const char* bad[] = {
      "s3://bucket/x",                 // another scheme
      "hf://gpt2",                     // no namespace
      "hf://datasets/org",             // no name
      "hf://datasets/org/name@",       // empty revision
      "hf://datasets/org/name@/x",     // empty revision before a path
      "hf://datasets/org/name@%zz/x",  // malformed escape
      "hf://datasets/org/name@%2e%2e/x",
      "hf://datasets/org/na me/x",  // not a repository id
      "hf://datasets/../name/x",
      "hf://datasets/org/name@a%0Ab/x",  // a control character in the revision
  };
  for (const char* uri : bad) {
    auto loc = ParseHfUri(uri);
    ASSERT_FALSE(loc.ok()) << uri;
    EXPECT_EQ(loc.status().code(), StatusCode::kInvalidArgument) << uri;
    EXPECT_NE(loc.status().message().find("hf://[datasets/|spaces/]namespace/name"),
              std::string::npos)
        << loc.status().message();
  }
}

}  // namespace
}  // namespace epochcache
