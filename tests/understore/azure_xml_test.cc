// Parsing List Blobs answers and error documents (shapes from the Blob service's reference and
// from Azurite's answers).
#include "understore/azure_xml.h"

#include <gtest/gtest.h>

#include "common/http_date.h"

namespace epochcache {
namespace {

TEST(AzureXmlTest, ListBlobsWithPrefixesAndAMarker) {
  const std::string xml = R"(<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://127.0.0.1:10000/devstoreaccount1" ContainerName="data">
  <Prefix>dir/</Prefix><Marker/><MaxResults>3</MaxResults><Delimiter>/</Delimiter>
  <Blobs>
    <Blob><Name>dir/a.bin</Name><Properties>
      <Last-Modified>Mon, 30 Nov 2026 20:13:41 GMT</Last-Modified>
      <Etag>0x25EE55258A9D8A0</Etag><Content-Length>12345</Content-Length>
    </Properties></Blob>
    <BlobPrefix><Name>dir/sub/</Name></BlobPrefix>
    <Blob><Name Encoded="true">dir/%EF%BF%BE.bin</Name><Properties>
      <Etag>"0x1"</Etag><Content-Length>0</Content-Length></Properties></Blob>
  </Blobs>
  <NextMarker>2!72!MDAwMDE1IWRpci96LmJpbiEwMDAwMjgh</NextMarker>
</EnumerationResults>)";
  auto page = ParseAzureListBlobs(xml);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->blobs.size(), 2U);
  EXPECT_EQ(page->blobs[0].name, "dir/a.bin");
  EXPECT_EQ(page->blobs[0].size, 12345U);
  EXPECT_EQ(page->blobs[0].etag, "0x25EE55258A9D8A0");
  // 2026-11-30T20:13:41Z.
  EXPECT_EQ(page->blobs[0].mtime_ns, 1796069621LL * 1'000'000'000);
  EXPECT_EQ(page->blobs[1].name, "dir/\xEF\xBF\xBE.bin");
  EXPECT_EQ(page->blobs[1].etag, "0x1");
  ASSERT_EQ(page->prefixes.size(), 1U);
  EXPECT_EQ(page->prefixes[0], "dir/sub/");
  EXPECT_EQ(page->next_marker, "2!72!MDAwMDE1IWRpci96LmJpbiEwMDAwMjgh");
}

TEST(AzureXmlTest, LastPageHasAnEmptyMarker) {
  auto page = ParseAzureListBlobs("<EnumerationResults><Blobs/><NextMarker/></EnumerationResults>");
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->blobs.empty());
  EXPECT_TRUE(page->next_marker.empty());
}

TEST(AzureXmlTest, MalformedAnswersAreErrors) {
  for (const char* bad : {
           "",
           "<EnumerationResults>",
           "<Other/>",
           "<EnumerationResults><Blobs><Blob><Properties><Content-Length>1</Content-Length>"
           "</Properties></Blob></Blobs></EnumerationResults>",
           "<EnumerationResults><Blobs><Blob><Name>x</Name><Properties><Content-Length>-1"
           "</Content-Length></Properties></Blob></Blobs></EnumerationResults>",
           "<EnumerationResults><Blobs><Blob><Name>x</Name></Blob></Blobs></EnumerationResults>",
           "<EnumerationResults><Blobs><Blob><Name Encoded=\"true\">%zz</Name><Properties>"
           "<Content-Length>1</Content-Length></Properties></Blob></Blobs></EnumerationResults>",
       }) {
    EXPECT_EQ(ParseAzureListBlobs(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(AzureXmlTest, ErrorDocumentKeepsTheFirstLineOfItsMessage) {
  const auto err = ParseAzureError(
      "<?xml version=\"1.0\"?><Error><Code>ConditionNotMet</Code><Message>The condition "
      "specified using HTTP conditional header(s) is not met.\nRequestId:abc\nTime:x</Message>"
      "</Error>");
  EXPECT_EQ(err.code, "ConditionNotMet");
  EXPECT_EQ(err.message, "The condition specified using HTTP conditional header(s) is not met.");
  EXPECT_TRUE(ParseAzureError("not xml").code.empty());
}

TEST(AzureXmlTest, Rfc1123Dates) {
  EXPECT_EQ(HttpDateNs("Thu, 01 Jan 1970 00:00:10 GMT"), 10'000'000'000LL);
  EXPECT_EQ(HttpDateNs("garbage"), 0);
  // Past 2262 nanoseconds do not fit an int64: unknown (0), never an overflow (found by
  // azure_xml_fuzz in a blob's Last-Modified).
  EXPECT_EQ(HttpDateNs("Sat, 01 Jan 3000 00:00:00 GMT"), 0);
  EXPECT_GT(HttpDateNs("Fri, 01 Jan 2260 00:00:00 GMT"), 0);
}

}  // namespace
}  // namespace epochcache
