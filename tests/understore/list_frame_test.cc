// The frame the object stores (S3, Azure) share for ListAfter and Stat, driven by scripted
// calls: which call runs when, and how an empty page, a file and a missing name are answered.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/curl_http.h"
#include "understore/list_paging.h"

namespace epochcache {
namespace {

// Scripted store calls that record what the frame asked for.
struct Script {
  std::vector<std::string> calls;
  ListPage page;
  FileStatus stat{"s3://b/dir", true, 0, 0, ""};
  Status stat_error = Status::Ok();

  ListCalls Calls(const std::string& key, bool stat_empty_root = true) {
    ListCalls out;
    out.resolve = [this, key]() -> Result<ListedDirectory> {
      calls.push_back("resolve");
      return MakeListedDirectory("s3://b", key);
    };
    out.recursive_page = [this](const ListedDirectory& dir, std::string_view after,
                                std::size_t limit) -> Result<ListPage> {
      calls.push_back("recursive " + dir.prefix + " " + std::string(after) + " " +
                      std::to_string(limit));
      return page;
    };
    out.directory_page = [this](const ListedDirectory& dir, std::string_view after,
                                std::size_t limit) -> Result<ListPage> {
      calls.push_back("directory " + dir.prefix + " " + std::string(after) + " " +
                      std::to_string(limit));
      return page;
    };
    out.stat = [this]() -> Result<FileStatus> {
      calls.push_back("stat");
      if (!stat_error.ok()) return stat_error;
      return stat;
    };
    out.stat_empty_root = stat_empty_root;
    return out;
  }
};

TEST(ListedDirectoryTest, TrimsTheKeyAndSpellsTheBase) {
  const ListedDirectory dir = MakeListedDirectory("az://c", "a/b//");
  EXPECT_EQ(dir.uri, "az://c/a/b");
  EXPECT_EQ(dir.prefix, "a/b/");
  EXPECT_EQ(dir.base, "az://c/a/b/");
  EXPECT_FALSE(dir.root());
  const ListedDirectory root = MakeListedDirectory("az://c", "/");
  EXPECT_EQ(root.uri, "az://c");
  EXPECT_EQ(root.prefix, "");
  EXPECT_EQ(root.base, "az://c/");
  EXPECT_TRUE(root.root());
}

TEST(ListObjectStoreTest, ALimitOfZeroIsRefusedBeforeAnyCall) {
  Script script;
  const auto page = ListObjectStore(script.Calls("dir"), false, "", 0);
  ASSERT_FALSE(page.ok());
  EXPECT_EQ(page.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(script.calls.empty());
}

TEST(ListObjectStoreTest, RecursiveAndDirectoryPagesGoToTheirCalls) {
  Script script;
  script.page.entries.push_back(FileStatus{"s3://b/dir/x", false, 1, 0, "e"});
  script.page.more = true;
  auto page = ListObjectStore(script.Calls("dir"), true, "s3://b/dir/a", 5);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->entries.size(), 1U);
  EXPECT_TRUE(page->more);
  page = ListObjectStore(script.Calls("dir/"), false, "", 7);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  // A page with entries needs no stat.
  EXPECT_EQ(script.calls, (std::vector<std::string>{"resolve", "recursive dir/ s3://b/dir/a 5",
                                                    "resolve", "directory dir/  7"}));
}

TEST(ListObjectStoreTest, NoPageIsAskedWhenStartAfterFollowsEveryEntry) {
  Script script;
  const auto page = ListObjectStore(script.Calls("dir"), false, "s3://b/dis", 10);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_TRUE(page->entries.empty());
  EXPECT_FALSE(page->more);
  EXPECT_EQ(script.calls, (std::vector<std::string>{"resolve", "stat"}));
}

TEST(ListObjectStoreTest, AnEmptyPageOfAFileIsNotFound) {
  Script script;
  script.stat = FileStatus{"s3://b/data.bin", false, 3, 0, "e"};
  const auto page = ListObjectStore(script.Calls("data.bin"), true, "", 10);
  ASSERT_FALSE(page.ok());
  EXPECT_EQ(page.status().code(), StatusCode::kNotFound);
  EXPECT_NE(page.status().message().find("s3://b/data.bin is a file, not a directory"),
            std::string::npos)
      << page.status().ToString();
}

TEST(ListObjectStoreTest, AnEmptyPageOfAMissingNameIsTheStatError) {
  Script script;
  script.stat_error = Status::NotFound("s3://b/none does not exist");
  const auto page = ListObjectStore(script.Calls("none"), false, "", 10);
  ASSERT_FALSE(page.ok());
  EXPECT_EQ(page.status().code(), StatusCode::kNotFound);
  EXPECT_NE(page.status().message().find("does not exist"), std::string::npos);
}

TEST(ListObjectStoreTest, AnEmptyRootIsCheckedOnlyWhenTheStoreAsks) {
  Script unchecked;
  unchecked.stat_error = Status::NotFound("no bucket");
  const auto empty = ListObjectStore(unchecked.Calls("", false), false, "", 10);
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(empty->entries.empty());
  EXPECT_EQ(unchecked.calls, (std::vector<std::string>{"resolve", "directory   10"}));

  Script checked;
  checked.stat_error = Status::NotFound("no container");
  const auto missing = ListObjectStore(checked.Calls("", true), false, "", 10);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(checked.calls, (std::vector<std::string>{"resolve", "directory   10", "stat"}));
}

HttpResponse Answer(long status) {  // NOLINT(google-runtime-int): curl's type
  HttpResponse r;
  r.status = status;
  return r;
}

TEST(ObjectStatusTest, AnObjectIsReadFromItsHead) {
  HttpResponse head = Answer(200);
  head.headers["content-length"] = "42";
  head.headers["etag"] = "\"abc\"";
  int asked = 0;
  const auto st = ObjectStatus(
      head, "s3://b/k", 7, [] { return Status::IoError("unused"); },
      [&]() -> Result<bool> {
        ++asked;
        return true;
      });
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->path, "s3://b/k");
  EXPECT_FALSE(st->is_directory);
  EXPECT_EQ(st->size, 42U);
  EXPECT_EQ(st->version, "abc");
  EXPECT_EQ(st->mtime_ns, 7);
  EXPECT_EQ(asked, 0);
}

TEST(ObjectStatusTest, ANameWithoutAnObjectIsADirectoryOnlyWithEntriesUnderIt) {
  const auto dir = ObjectStatus(
      Answer(404), "az://c/d", 0, [] { return Status::IoError("unused"); },
      []() -> Result<bool> { return true; });
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_TRUE(dir->is_directory);
  EXPECT_EQ(dir->path, "az://c/d");

  const auto none = ObjectStatus(
      Answer(404), "az://c/d", 0, [] { return Status::IoError("unused"); },
      []() -> Result<bool> { return false; });
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_NE(none.status().message().find("az://c/d does not exist"), std::string::npos);

  const auto failed = ObjectStatus(
      Answer(404), "az://c/d", 0, [] { return Status::IoError("unused"); },
      []() -> Result<bool> { return Status::Unavailable("listing failed"); });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable);
}

TEST(ObjectStatusTest, OtherAnswersAreTheStoresError) {
  const auto st = ObjectStatus(
      Answer(403), "s3://b/k", 0, [] { return Status::PermissionDenied("denied by test"); },
      []() -> Result<bool> { return true; });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), StatusCode::kPermissionDenied);
}

TEST(RootStatusTest, TheRootIsADirectoryOrNamesWhatIsMissing) {
  const auto error = [] { return Status::PermissionDenied("denied by test"); };
  const auto ok = RootStatus(Answer(200), "s3://b", "bucket b", error);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE(ok->is_directory);
  const auto missing = RootStatus(Answer(404), "s3://b", "bucket b", error);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("s3://b: bucket b does not exist"), std::string::npos);
  const auto denied = RootStatus(Answer(403), "s3://b", "bucket b", error);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace epochcache
