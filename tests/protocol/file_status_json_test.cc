#include "protocol/file_status_json.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace epochcache::protocol {
namespace {

FileStatus File(std::string path, std::uint64_t size) {
  return {.path = std::move(path),
          .is_directory = false,
          .size = size,
          .mtime_ns = 1700000000123456789,
          .version = "v-" + std::to_string(size)};
}

TEST(FileStatusJsonTest, RoundTrips) {
  const FileStatus dir{
      .path = "s3://b/d/", .is_directory = true, .size = 0, .mtime_ns = 0, .version = ""};
  for (const FileStatus& st :
       {File("/data/a b.parquet", 1234), dir, File("/x", std::numeric_limits<std::uint64_t>::max()),
        FileStatus{
            .path = "/neg", .is_directory = false, .size = 0, .mtime_ns = -5, .version = "v"}}) {
    auto back = DecodeFileStatus(EncodeFileStatus(st));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, st);
  }
}

TEST(FileStatusJsonTest, EncodesTheDocumentedShape) {
  EXPECT_EQ(
      EncodeFileStatus(File("/a", 3)),
      R"({"mtime_ns":1700000000123456789,"path":"/a","size":3,"type":"file","version":"v-3"})");
}

TEST(FileStatusJsonTest, OptionalMembersDefault) {
  auto st = DecodeFileStatus(R"({"path":"/a","type":"file","size":3})");
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->mtime_ns, 0);
  EXPECT_EQ(st->version, "");
  auto dir = DecodeFileStatus(R"({"path":"/d","type":"directory"})");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_TRUE(dir->is_directory);
}

// Each malformed document fails with IoError whose message contains `why`.
struct Malformed {
  const char* json;
  const char* why;
};

TEST(FileStatusJsonTest, MalformedDocumentsAreClearErrors) {
  for (const auto& [json, why] : {
           Malformed{"", "not JSON"},
           Malformed{"{\"path\":", "not JSON"},
           Malformed{"[1]", "not a JSON object"},
           Malformed{R"({"type":"file","size":1})", "no 'path'"},
           Malformed{R"({"path":7,"type":"file","size":1})", "'path' is not a string"},
           Malformed{R"({"path":"/a","size":1})", "no 'type'"},
           Malformed{R"({"path":"/a","type":"link","size":1})", "unknown type 'link'"},
           Malformed{R"({"path":"/a","type":3,"size":1})", "unknown type '3'"},
           Malformed{R"({"path":"/a","type":"file"})", "entry '/a' has no size"},
           Malformed{R"({"path":"/a","type":"file","size":-1})", "'size' is not an unsigned"},
           Malformed{R"({"path":"/a","type":"file","size":1.5})", "'size' is not an unsigned"},
           Malformed{R"({"path":"/a","type":"file","size":"1"})", "'size' is not an unsigned"},
           Malformed{R"({"path":"/a","type":"file","size":1,"mtime_ns":"x"})", "'mtime_ns'"},
           Malformed{R"({"path":"/a","type":"file","size":1,"mtime_ns":18446744073709551615})",
                     "'mtime_ns'"},
           Malformed{R"({"path":"/a","type":"file","size":1,"version":3})", "'version'"},
       }) {
    auto st = DecodeFileStatus(json);
    ASSERT_FALSE(st.ok()) << json;
    EXPECT_EQ(st.status().code(), StatusCode::kIoError) << json;
    EXPECT_NE(st.status().message().find(why), std::string::npos)
        << json << " -> " << st.status().message();
  }
}

TEST(FileStatusJsonTest, EveryWrongMemberIsNamed) {
  auto st = DecodeFileStatus(
      R"({"path": 7, "type": "file", "size": "12", "mtime_ns": "x", "version": []})");
  ASSERT_FALSE(st.ok());
  for (const char* why : {"'path' is not a string", "has no size", "'mtime_ns'", "'version'"}) {
    EXPECT_NE(st.status().message().find(why), std::string::npos)
        << why << " -> " << st.status().message();
  }
}

TEST(ListPageJsonTest, RoundTripsWithAndWithoutACursor) {
  ListPage page;
  page.path = "/data";
  page.entries = {File("/data/a", 1), File("/data/b", 2)};
  auto last = DecodeListPage(EncodeListPage(page));
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ(last->path, "/data");
  EXPECT_EQ(last->entries, page.entries);
  EXPECT_FALSE(last->next_start_after.has_value());
  EXPECT_EQ(EncodeListPage(page).find("next_start_after"), std::string::npos);

  page.next_start_after = "/data/b";
  auto more = DecodeListPage(EncodeListPage(page));
  ASSERT_TRUE(more.ok()) << more.status().ToString();
  EXPECT_EQ(more->next_start_after, "/data/b");
  EXPECT_EQ(more->entries, page.entries);

  auto empty = DecodeListPage(
      EncodeListPage(ListPage{.path = "/e", .entries = {}, .next_start_after = std::nullopt}));
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(empty->entries.empty());
}

TEST(ListPageJsonTest, MalformedPagesAreClearErrors) {
  for (const auto& [json, why] : {
           Malformed{"nope", "not JSON"},
           Malformed{"[]", "not a JSON object"},
           Malformed{R"({"path":"/d"})", "no 'entries' array"},
           Malformed{R"({"path":"/d","entries":{}})", "no 'entries' array"},
           Malformed{R"({"path":3,"entries":[]})", "'path' is not a string"},
           Malformed{R"({"entries":[{"path":"/a","type":"file"}]})", "has no size"},
           Malformed{R"({"entries":[],"next_start_after":""})", "'next_start_after'"},
           Malformed{R"({"entries":[],"next_start_after":5})", "'next_start_after'"},
       }) {
    auto page = DecodeListPage(json);
    ASSERT_FALSE(page.ok()) << json;
    EXPECT_EQ(page.status().code(), StatusCode::kIoError) << json;
    EXPECT_NE(page.status().message().find(why), std::string::npos)
        << json << " -> " << page.status().message();
  }
  // A null cursor is no cursor (the last page).
  auto page = DecodeListPage(R"({"entries":[],"next_start_after":null})");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_FALSE(page->next_start_after.has_value());
}

}  // namespace
}  // namespace epochcache::protocol
