// Paged listings of the Azure store against a scripted List Blobs server that pages with small
// maxresults and opaque markers: pages follow path order (a directory "sub" before "sub-1"),
// nothing is lost or repeated, and a page resumes from a remembered marker instead of listing
// from the start again.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/curl_http.h"
#include "list_walk.h"
#include "scripted_http_server.h"
#include "understore/azure_under_store.h"

namespace epochcache {
namespace {

using testing::PathsOf;
using testing::ScriptedHttpServer;
using testing::WalkPages;

// A List Blobs answerer over `blobs` (sorted names), as the service pages: names in order,
// "dir/" prefixes in the place of their first blob, at most maxresults items, and an opaque
// marker naming where the next page starts.
std::string Answer(const std::vector<std::string>& blobs, const std::string& request) {
  const auto line_end = request.find(' ', request.find(' ') + 1);
  const std::string target =
      request.substr(request.find(' ') + 1, line_end - request.find(' ') - 1);
  const auto q = target.find('?');
  std::map<std::string, std::string> query;
  if (q != std::string::npos) {
    std::string rest = target.substr(q + 1);
    while (!rest.empty()) {
      const auto amp = rest.find('&');
      const std::string pair = rest.substr(0, amp);
      rest = amp == std::string::npos ? "" : rest.substr(amp + 1);
      const auto eq = pair.find('=');
      query[pair.substr(0, eq)] = PercentDecode(pair.substr(eq + 1)).value();
    }
  }
  if (request.starts_with("HEAD ")) return ScriptedHttpServer::Response(404, "");
  const std::string prefix = query["prefix"];
  const bool delimited = query.contains("delimiter");
  const std::size_t max = std::stoul(query["maxresults"]);
  const std::string after = query.contains("marker") ? query["marker"].substr(2) : "";
  std::string body = "<EnumerationResults><Blobs>";
  std::string last;
  std::size_t count = 0;
  bool more = false;
  for (const auto& name : blobs) {
    if (!name.starts_with(prefix)) continue;
    std::string item = name;
    bool is_prefix = false;
    if (delimited) {
      const auto slash = name.find('/', prefix.size());
      if (slash != std::string::npos) {
        item = name.substr(0, slash + 1);
        is_prefix = true;
      }
    }
    if (!after.empty() && item <= after) continue;
    if (item == last) continue;
    if (count == max) {
      more = true;
      break;
    }
    body += is_prefix ? "<BlobPrefix><Name>" + item + "</Name></BlobPrefix>"
                      : "<Blob><Name>" + item +
                            "</Name><Properties><Etag>0x1</Etag><Content-Length>1"
                            "</Content-Length></Properties></Blob>";
    last = item;
    ++count;
  }
  body += "</Blobs><NextMarker>" + (more ? "m:" + last : "") + "</NextMarker></EnumerationResults>";
  return ScriptedHttpServer::Response(200, body);
}

UnderStoreOptions Options(const std::string& endpoint, std::size_t page_size) {
  UnderStoreOptions o;
  o.azure.account_name = "acct";
  o.azure.sas_token = "sv=1&sig=x";
  o.azure.endpoint_url = endpoint + "/acct";
  o.azure.list_page_size = page_size;
  o.max_attempts = 1;
  return o;
}

TEST(AzureListPagingTest, PagesFollowThePathOrderWhateverTheServicePageSize) {
  const std::vector<std::string> blobs = {"d/a",     "d/sub-1",   "d/sub.txt",
                                          "d/sub/x", "d/sub/y/z", "e/f"};
  ScriptedHttpServer server([&](const std::string& r) { return Answer(blobs, r); });
  const std::vector<std::string> flat = {"az://data/d/a", "az://data/d/sub", "az://data/d/sub-1",
                                         "az://data/d/sub.txt"};
  const std::vector<std::string> deep = {"az://data/d/a", "az://data/d/sub-1",
                                         "az://data/d/sub.txt", "az://data/d/sub/x",
                                         "az://data/d/sub/y/z"};
  for (const std::size_t page_size : {1, 2, 5000}) {
    auto store = AzureUnderStore::Open("az://data", Options(server.endpoint(), page_size));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    for (const std::size_t limit : {1, 2, 100}) {
      EXPECT_EQ(PathsOf(WalkPages(**store, "az://data/d", false, limit)), flat)
          << page_size << " " << limit;
      EXPECT_EQ(PathsOf(WalkPages(**store, "az://data/d", true, limit)), deep)
          << page_size << " " << limit;
    }
    // A start_after the store never returned (no remembered marker) is honoured too.
    auto page = (*store)->ListAfter("az://data/d", true, "az://data/d/sub-1", 2);
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(PathsOf(page->entries),
              (std::vector<std::string>{"az://data/d/sub.txt", "az://data/d/sub/x"}));
    EXPECT_TRUE(page->more);
  }
}

TEST(AzureListPagingTest, ADirectoryThatIsAlsoAnEmptyBlobIsListedOnce) {
  // Data Lake Gen2 accounts keep a directory as an empty blob beside its prefix.
  const std::vector<std::string> blobs = {"d/a", "d/sub", "d/sub/x"};
  ScriptedHttpServer server([&](const std::string& r) { return Answer(blobs, r); });
  auto store = AzureUnderStore::Open("az://data", Options(server.endpoint(), 5000));
  ASSERT_TRUE(store.ok());
  const auto entries = WalkPages(**store, "az://data/d", false, 100);
  ASSERT_EQ(PathsOf(entries), (std::vector<std::string>{"az://data/d/a", "az://data/d/sub"}));
  EXPECT_TRUE(entries[1].is_directory);
}

TEST(AzureListPagingTest, SequentialPagesResumeFromTheRememberedMarker) {
  std::vector<std::string> blobs;
  for (int i = 0; i < 60; ++i) blobs.push_back(fmt::format("many/o-{:03}", i));
  ScriptedHttpServer server([&](const std::string& r) { return Answer(blobs, r); });
  auto store = AzureUnderStore::Open("az://data", Options(server.endpoint(), 7));
  ASSERT_TRUE(store.ok());
  const auto all = WalkPages(**store, "az://data/many", true, 4);
  ASSERT_EQ(all.size(), 60U);
  const auto paths = PathsOf(all);
  EXPECT_EQ(std::set<std::string>(paths.begin(), paths.end()).size(), 60U);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end(),
                             [](const auto& a, const auto& b) { return a.path < b.path; }));
  // 15 pages; each asks for the service page its cut fell in, at most once more at a page
  // boundary. Listing from the start every time would cost about 70 requests.
  EXPECT_LE((*store)->list_requests(), 30U);
}

}  // namespace
}  // namespace epochcache
