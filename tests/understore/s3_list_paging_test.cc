// Paged S3 listings against a local server that answers ListObjectsV2 the way S3 does (prefix,
// delimiter, start-after, max-keys, continuation tokens, common prefixes), over a set of keys
// chosen where S3's order and the path order differ: "sub-1" and "sub.txt" come before the
// common prefix "sub/" in S3's order but after the directory "sub" in path order.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "common/curl_http.h"
#include "scripted_http_server.h"
#include "understore/s3_under_store.h"

namespace epochcache {
namespace {

using testing::ScriptedHttpServer;

// Continuation tokens are opaque: the fake's are the hex of a key.
std::string ToHex(const std::string& s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char c : s) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string FromHex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return out;
}

// The keys of one bucket, served as S3 serves them (including what S3 does with a start-after
// inside a common prefix: the prefix is sent again).
class FakeS3 {
 public:
  explicit FakeS3(std::set<std::string> keys) : keys_(std::move(keys)) {}

  std::string Answer(const std::string& request) {
    std::istringstream line(request.substr(0, request.find("\r\n")));
    std::string method;
    std::string target;
    line >> method >> target;
    const auto question = target.find('?');
    if (method == "HEAD") {
      auto key = PercentDecode(target.substr(std::string("/bucket/").size()));
      if (key.ok() && keys_.contains(*key)) {
        return ScriptedHttpServer::Response(200, "", "ETag: \"e\"\r\n");
      }
      return ScriptedHttpServer::Response(404, "");
    }
    if (question == std::string::npos) return ScriptedHttpServer::Response(400, "");
    std::map<std::string, std::string> query;
    std::istringstream params(target.substr(question + 1));
    for (std::string pair; std::getline(params, pair, '&');) {
      const auto eq = pair.find('=');
      query[pair.substr(0, eq)] = PercentDecode(pair.substr(eq + 1)).value();
    }
    list_requests_.fetch_add(1);
    {
      std::lock_guard lock(mu_);
      queries_.push_back(query);
    }
    return ScriptedHttpServer::Response(200, List(query));
  }

  [[nodiscard]] int list_requests() const { return list_requests_.load(); }
  [[nodiscard]] std::vector<std::map<std::string, std::string>> queries() const {
    std::lock_guard lock(mu_);
    return queries_;
  }

 private:
  std::string List(std::map<std::string, std::string>& query) {
    const std::string& prefix = query["prefix"];
    const bool delimited = query["delimiter"] == "/";
    const std::size_t max_keys = query.contains("max-keys")
                                     ? std::min<std::size_t>(std::stoul(query["max-keys"]), 1000)
                                     : 1000;
    // Tokens are the last key or common prefix sent; a common prefix resumes past its keys.
    const std::string after = query.contains("continuation-token")
                                  ? FromHex(query["continuation-token"])
                                  : query["start-after"];
    std::string contents;
    std::string prefixes;
    std::string last_prefix;
    std::string last;
    std::size_t count = 0;
    bool truncated = false;
    for (auto it = keys_.upper_bound(after); it != keys_.end(); ++it) {
      const std::string& key = *it;
      if (!key.starts_with(prefix)) continue;
      if (after.ends_with('/') && key.starts_with(after)) continue;
      const auto slash = delimited ? key.find('/', prefix.size()) : std::string::npos;
      const std::string common = slash == std::string::npos ? "" : key.substr(0, slash + 1);
      if (!common.empty() && common == last_prefix) continue;
      if (count == max_keys) {
        truncated = true;
        break;
      }
      ++count;
      if (common.empty()) {
        contents += "<Contents><Key>" + AwsUriEncode(key, false) + "</Key><Size>" +
                    std::to_string(key.size()) + "</Size><ETag>\"e\"</ETag></Contents>";
        last = key;
      } else {
        prefixes +=
            "<CommonPrefixes><Prefix>" + AwsUriEncode(common, false) + "</Prefix></CommonPrefixes>";
        last_prefix = common;
        last = common;
      }
    }
    return std::string("<ListBucketResult><IsTruncated>") + (truncated ? "true" : "false") +
           "</IsTruncated>" +
           (truncated ? "<NextContinuationToken>" + ToHex(last) + "</NextContinuationToken>" : "") +
           contents + prefixes + "</ListBucketResult>";
  }

  const std::set<std::string> keys_;
  std::atomic<int> list_requests_{0};
  mutable std::mutex mu_;
  std::vector<std::map<std::string, std::string>> queries_;
};

std::unique_ptr<S3UnderStore> Open(const std::string& endpoint) {
  UnderStoreOptions o;
  o.s3.endpoint_url = endpoint;
  o.s3.region = "us-east-1";
  o.s3.access_key_id = "AKIDEXAMPLE";
  o.s3.secret_access_key = "secret";
  o.max_attempts = 1;
  auto store = S3UnderStore::Open("s3://bucket", o);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return std::move(store).value();
}

// What a listing of "d" must hold, worked out from the keys alone: in a directory listing
// the first segment below "d/" of every key (a directory if more follows, markers included),
// recursively every key not ending in '/'; sorted by path.
std::vector<std::string> Expected(const std::set<std::string>& keys, bool recursive) {
  std::set<std::string> paths;
  for (const auto& key : keys) {
    if (!key.starts_with("d/")) continue;
    if (recursive) {
      if (!key.ends_with('/')) paths.insert("s3://bucket/" + key);
      continue;
    }
    const auto slash = key.find('/', 2);
    paths.insert("s3://bucket/" + key.substr(0, slash) + (slash == std::string::npos ? "" : "/"));
  }
  std::vector<std::string> out;
  for (auto path : paths) {
    if (path.ends_with('/')) path.pop_back();  // a directory: "s3://bucket/d/sub"
    out.push_back(path);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// Pages through "s3://bucket/d" `limit` entries at a time; every page must make progress.
std::vector<std::string> Walk(S3UnderStore& store, bool recursive, std::size_t limit,
                              std::set<std::string>* directories = nullptr) {
  std::vector<std::string> paths;
  std::string after;
  for (int pages = 0; pages < 1000; ++pages) {
    auto page = store.ListAfter("s3://bucket/d", recursive, after, limit);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    if (!page.ok()) break;
    EXPECT_LE(page->entries.size(), limit);
    for (const auto& e : page->entries) {
      paths.push_back(e.path);
      if (e.is_directory && directories != nullptr) directories->insert(e.path);
    }
    if (!page->more) break;
    EXPECT_FALSE(page->entries.empty()) << "a page with more to come must not be empty";
    if (page->entries.empty()) break;
    after = page->entries.back().path;
  }
  return paths;
}

std::set<std::string> TrickyKeys() {
  std::set<std::string> keys = {
      "d/a",         "d/sub-1",     "d/sub.txt",    "d/sub!",  "d/sub/x",      "d/sub/y/z",
      "d/marker/",   "d/z",         "d/zz/",        "d/zz/q",  "d/part/inner", "d/sub-2/deep",
      "d/part.meta", "d/b c+d",     "d/e.x/f",      "d/e.x.y", "d/e",          "other/a",
      "d-sibling",   "d/q.r/s.t/u", "d/q.r.s/v.w-x"};
  for (int i = 0; i < 30; ++i) {
    keys.insert("d/part-" + std::to_string(1000 + i) + ".parquet");
  }
  return keys;
}

TEST(S3ListPagingTest, APageStartsAtStartAfterAndAsksForS3sLargestPage) {
  FakeS3 s3({"d/a", "d/b", "d/c", "d/d", "d/e"});
  ScriptedHttpServer server([&](const std::string& r) { return s3.Answer(r); });
  auto store = Open(server.endpoint());
  auto page = store->ListAfter("s3://bucket/d", false, "s3://bucket/d/b", 2);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->entries.size(), 2U);
  EXPECT_EQ(page->entries[0].path, "s3://bucket/d/c");
  EXPECT_EQ(page->entries[1].path, "s3://bucket/d/d");
  EXPECT_TRUE(page->more);
  ASSERT_EQ(s3.list_requests(), 1);
  const auto query = s3.queries().at(0);
  EXPECT_EQ(query.at("start-after"), "d/b");  // the key, not the s3:// path
  // (Asking for 3 would do; MinIO mishandles some small max-keys.)
  EXPECT_EQ(query.at("max-keys"), "1000");
  EXPECT_EQ(query.at("prefix"), "d/");
  // A start_after before the directory starts at its beginning.
  auto all = store->ListAfter("s3://bucket/d", true, "s3://bucket/c", 5000);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->entries.size(), 5U);
  EXPECT_FALSE(all->more);
  EXPECT_EQ(s3.queries().at(1).at("max-keys"), "1000");
  EXPECT_FALSE(s3.queries().at(1).contains("start-after"));
  // A start_after past the directory needs no listing, only the check that it exists.
  auto past = store->ListAfter("s3://bucket/d", false, "s3://bucket/e", 5);
  ASSERT_TRUE(past.ok()) << past.status().ToString();
  EXPECT_TRUE(past->entries.empty());
  EXPECT_FALSE(past->more);
  EXPECT_EQ(store->ListAfter("s3://bucket/d", false, "", 0).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(S3ListPagingTest, DirectoryPagesReturnEveryEntryOnceInPathOrder) {
  const auto keys = TrickyKeys();
  FakeS3 s3(keys);
  ScriptedHttpServer server([&](const std::string& r) { return s3.Answer(r); });
  auto store = Open(server.endpoint());
  const auto expected = Expected(keys, false);
  ASSERT_TRUE(std::is_sorted(expected.begin(), expected.end()));
  for (const std::size_t limit : {1, 2, 3, 4, 7, 10, 1000}) {
    std::set<std::string> directories;
    EXPECT_EQ(Walk(*store, false, limit, &directories), expected) << "pages of " << limit;
    EXPECT_EQ(directories, (std::set<std::string>{"s3://bucket/d/e.x", "s3://bucket/d/marker",
                                                  "s3://bucket/d/part", "s3://bucket/d/q.r",
                                                  "s3://bucket/d/sub", "s3://bucket/d/q.r.s",
                                                  "s3://bucket/d/sub-2", "s3://bucket/d/zz"}))
        << "pages of " << limit;
  }
  auto whole = store->List("s3://bucket/d", false);
  ASSERT_TRUE(whole.ok());
  std::vector<std::string> paths;
  for (const auto& e : *whole) paths.push_back(e.path);
  EXPECT_EQ(paths, expected);
}

TEST(S3ListPagingTest, RecursivePagesReturnEveryFileOnce) {
  const auto keys = TrickyKeys();
  FakeS3 s3(keys);
  ScriptedHttpServer server([&](const std::string& r) { return s3.Answer(r); });
  auto store = Open(server.endpoint());
  const auto expected = Expected(keys, true);
  for (const std::size_t limit : {1, 2, 5, 1000}) {
    EXPECT_EQ(Walk(*store, true, limit), expected) << "pages of " << limit;
  }
}

TEST(S3ListPagingTest, EachPageCostsAboutOneRequestNotAWholeListing) {
  std::set<std::string> keys;
  for (int i = 0; i < 5000; ++i) keys.insert("d/part-" + std::to_string(10000 + i) + ".parquet");
  FakeS3 s3(keys);
  ScriptedHttpServer server([&](const std::string& r) { return s3.Answer(r); });
  auto store = Open(server.endpoint());
  for (const bool recursive : {false, true}) {
    const int before = s3.list_requests();
    EXPECT_EQ(Walk(*store, recursive, 1000).size(), 5000U);
    const int used = s3.list_requests() - before;
    ::testing::Test::RecordProperty(recursive ? "recursive_requests" : "directory_requests", used);
    // Pages of 999 in directory listings ("part-10999" could still be a directory after
    // "part-10999.parquet"), plus one request to learn that "part" is not a directory.
    EXPECT_LE(used, recursive ? 5 : 7) << (recursive ? "recursive" : "directory");
    EXPECT_GE(used, 5);
  }
  // Listing everything for every page, as the store used to, is 5 requests a page.
  const int before = s3.list_requests();
  for (int page = 0; page < 5; ++page) ASSERT_TRUE(store->List("s3://bucket/d", false).ok());
  EXPECT_EQ(s3.list_requests() - before, 25);
}

TEST(S3ListPagingTest, AFileOrNothingIsNotFound) {
  FakeS3 s3({"d/a", "f"});
  ScriptedHttpServer server([&](const std::string& r) { return s3.Answer(r); });
  auto store = Open(server.endpoint());
  EXPECT_EQ(store->ListAfter("s3://bucket/f", false, "", 10).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(store->ListAfter("s3://bucket/nope", true, "", 10).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(store->ListAfter("s3://bucket/nope", true, "s3://bucket/nope/x", 10).status().code(),
            StatusCode::kNotFound);
}

}  // namespace
}  // namespace epochcache
