// Azure Blob request building: URI forms, connection strings, and Shared Key signing checked
// against strings written from the Blob service's documented string-to-sign layout and HMACs
// computed independently (Python's hmac module over those literal strings).
#include "understore/azure_request.h"

#include <gtest/gtest.h>

namespace epochcache {
namespace {

// Azurite's documented development key (public).
constexpr const char* kDevKey =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

TEST(AzureRequestTest, StringToSignForARangedConditionalGet) {
  AzureSignInput in;
  in.method = "GET";
  in.if_match = "\"0x8DC0FFEE\"";
  // Given out of order and in mixed case: signing lower-cases and sorts them.
  in.ms_headers = {{"x-ms-version", "2021-08-06"},
                   {"X-MS-Range", "bytes=0-99"},
                   {"x-ms-date", "Mon, 30 Nov 2026 20:00:00 GMT"}};
  in.account = "devstoreaccount1";
  in.url_path = "/devstoreaccount1/data/dir/a%20b.bin";
  // VERB, Content-Encoding, Content-Language, Content-Length, Content-MD5, Content-Type, Date,
  // If-Modified-Since, If-Match, If-None-Match, If-Unmodified-Since, Range, then the x-ms-*
  // headers and "/" + account + the URL path.
  const std::string expected =
      "GET\n"
      "\n\n\n\n\n\n\n"
      "\"0x8DC0FFEE\"\n"
      "\n\n\n"
      "x-ms-date:Mon, 30 Nov 2026 20:00:00 GMT\n"
      "x-ms-range:bytes=0-99\n"
      "x-ms-version:2021-08-06\n"
      "/devstoreaccount1/devstoreaccount1/data/dir/a%20b.bin";
  EXPECT_EQ(SharedKeyStringToSign(in), expected);
  auto sig = SharedKeySignature(kDevKey, expected);
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  EXPECT_EQ(*sig, "4tn5UQavR07ay4u6nwXBTa1omi21cLQkwRu95/PoSlE=");
}

TEST(AzureRequestTest, QueryParametersAreSortedLowerCasedAndNotEncoded) {
  AzureSignInput in;
  in.method = "GET";
  in.ms_headers = {{"x-ms-date", "Mon, 30 Nov 2026 20:00:00 GMT"}, {"x-ms-version", "2021-08-06"}};
  in.account = "myaccount";
  in.url_path = "/data";
  in.query = {{"restype", "container"},
              {"comp", "list"},
              {"prefix", "a b/"},
              {"MaxResults", "2"},
              {"marker", "2!48!abc"}};
  const std::string expected =
      "GET\n\n\n\n\n\n\n\n\n\n\n\n"
      "x-ms-date:Mon, 30 Nov 2026 20:00:00 GMT\n"
      "x-ms-version:2021-08-06\n"
      "/myaccount/data\n"
      "comp:list\n"
      "marker:2!48!abc\n"
      "maxresults:2\n"
      "prefix:a b/\n"
      "restype:container";
  EXPECT_EQ(SharedKeyStringToSign(in), expected);
  auto sig = SharedKeySignature(kDevKey, expected);
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(*sig, "GHV07ExWH5tglMjCJxR06rjlbYLS3GtlP1JfmHMzWhk=");
}

TEST(AzureRequestTest, AKeyThatIsNotBase64FailsWithoutShowingIt) {
  auto sig = SharedKeySignature("not*base64*secretvalue", "x");
  ASSERT_FALSE(sig.ok());
  EXPECT_EQ(sig.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(sig.status().message().find("secretvalue"), std::string::npos);
}

TEST(AzureRequestTest, UriForms) {
  auto az = ParseAzureUri("az://data/dir/x.parquet");
  ASSERT_TRUE(az.ok());
  EXPECT_EQ(az->scheme, "az");
  EXPECT_EQ(az->location.container, "data");
  EXPECT_EQ(az->location.blob, "dir/x.parquet");
  EXPECT_TRUE(az->account.empty());

  auto fq = ParseAzureUri("abfs://data@myacct.dfs.core.windows.net/dir/x");
  ASSERT_TRUE(fq.ok());
  EXPECT_EQ(fq->scheme, "abfs");
  EXPECT_EQ(fq->account, "myacct");
  EXPECT_EQ(fq->location.container, "data");
  EXPECT_EQ(fq->location.blob, "dir/x");

  auto root = ParseAzureUri("abfss://data");
  ASSERT_TRUE(root.ok());
  EXPECT_TRUE(root->location.blob.empty());

  for (const char* bad : {"s3://data/x", "az:///x", "az://", "abfs://data@host/x",
                          "abfs://data@.dfs.core.windows.net/x"}) {
    EXPECT_EQ(ParseAzureUri(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(AzureRequestTest, ConnectionStringFields) {
  auto cs = ParseAzureConnectionString(
      "DefaultEndpointsProtocol=http; accountname=acct;AccountKey=a2V5PT0=;"
      "BlobEndpoint=http://127.0.0.1:10000/acct;SharedAccessSignature=?sv=2021&sig=ab%3D;");
  ASSERT_TRUE(cs.ok()) << cs.status().ToString();
  EXPECT_EQ(cs->account_name, "acct");
  EXPECT_EQ(cs->account_key, "a2V5PT0=");  // '=' inside a value is kept
  EXPECT_EQ(cs->blob_endpoint, "http://127.0.0.1:10000/acct");
  EXPECT_EQ(cs->sas_token, "sv=2021&sig=ab%3D");
  EXPECT_EQ(cs->protocol, "http");

  auto cloud = ParseAzureConnectionString(
      "AccountName=acct;AccountKey=k;EndpointSuffix=core.chinacloudapi.cn");
  ASSERT_TRUE(cloud.ok());
  EXPECT_EQ(cloud->endpoint_suffix, "core.chinacloudapi.cn");
  EXPECT_EQ(cloud->protocol, "https");

  auto dev = ParseAzureConnectionString("UseDevelopmentStorage=true");
  ASSERT_TRUE(dev.ok());
  EXPECT_EQ(dev->account_name, "devstoreaccount1");
  EXPECT_EQ(dev->account_key, kDevKey);
  EXPECT_EQ(dev->blob_endpoint, "http://127.0.0.1:10000/devstoreaccount1");
}

TEST(AzureRequestTest, MalformedConnectionStringsNameNoValue) {
  for (const char* bad :
       {"AccountName=acct;TOPSECRETKEYVALUE", "=TOPSECRETKEYVALUE", "AccountKey=TOPSECRETKEYVALUE",
        "AccountName=a;AccountKey=TOPSECRETKEYVALUE;"
        "DefaultEndpointsProtocol=ftp"}) {
    auto cs = ParseAzureConnectionString(bad);
    ASSERT_FALSE(cs.ok()) << bad;
    EXPECT_EQ(cs.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(cs.status().message().find("TOPSECRETKEYVALUE"), std::string::npos)
        << cs.status().message();
  }
}

TEST(AzureRequestTest, DateIsRfc1123InGmt) {
  const std::string date = AzureDateNow();
  ASSERT_EQ(date.size(), 29U) << date;
  EXPECT_EQ(date.substr(3, 2), ", ");
  EXPECT_TRUE(date.ends_with(" GMT")) << date;
}

}  // namespace
}  // namespace epochcache
