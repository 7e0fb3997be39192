// The Azure store's containment and secret rules against scripted local servers: a path that
// leaves the root sends nothing; the account key and SAS token never appear in a message, even
// when the server echoes them; redirects are not followed; a 412 is "changed".
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>

#include "scripted_http_server.h"
#include "understore/azure_under_store.h"

namespace epochcache {
namespace {

using testing::ScriptedHttpServer;
// Base64 of "SUPERSECRETKEYVALUE-SUPERSECRETKEYVALUE".
constexpr const char* kKey = "U1VQRVJTRUNSRVRLRVlWQUxVRS1TVVBFUlNFQ1JFVEtFWVZBTFVF";
constexpr const char* kSasSig = "SASSIGNATUREVALUE";

UnderStoreOptions Options(const std::string& endpoint) {
  UnderStoreOptions o;
  o.azure.account_name = "acct";
  o.azure.account_key = kKey;
  o.azure.endpoint_url = endpoint + "/acct";
  o.max_attempts = 2;
  o.connect_timeout = std::chrono::milliseconds(500);
  o.request_timeout = std::chrono::milliseconds(2000);
  o.operation_deadline = std::chrono::milliseconds(5000);
  return o;
}

std::unique_ptr<AzureUnderStore> Open(const std::string& root, const UnderStoreOptions& o) {
  auto store = AzureUnderStore::Open(root, o);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return std::move(store).value();
}

TEST(AzureSecurityTest, EscapesAreRefusedBeforeAnyRequest) {
  ScriptedHttpServer server({ScriptedHttpServer::Response(200, "other container's blob")});
  auto store = Open("az://data/prefix", Options(server.endpoint()));
  for (const std::string& path : std::vector<std::string>{
           "az://data/prefix/../../other/key.txt",
           "az://data/prefix/../prefix2/key.txt",
           "az://data/prefix/./key.txt",
           "az://data/prefix//key.txt",
           "az://data/prefix/key.txt?comp=list",
           "az://data/prefix2/key.txt",
           "az://other/prefix/key.txt",
           "abfs://data@otheracct.dfs.core.windows.net/prefix/key.txt",
       }) {
    std::vector<std::byte> buf(64);
    EXPECT_EQ(store->ReadRange(path, "", 0, buf).status().code(), StatusCode::kPermissionDenied)
        << path;
    EXPECT_EQ(store->Stat(path).status().code(), StatusCode::kPermissionDenied) << path;
    EXPECT_EQ(store->List(path, true).status().code(), StatusCode::kPermissionDenied) << path;
  }
  // Another scheme is not this store's at all.
  std::vector<std::byte> buf(8);
  EXPECT_EQ(store->ReadRange("s3://data/prefix/key.txt", "", 0, buf).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(server.requests().empty()) << server.requests().front();
}

TEST(AzureSecurityTest, SignedRequestNamesTheAccountAndSendsTheBlobAsChecked) {
  ScriptedHttpServer server(
      {ScriptedHttpServer::Response(404, "", "x-ms-error-code: BlobNotFound\r\n"),
       ScriptedHttpServer::Response(
           200, "<EnumerationResults><Blobs/><NextMarker/></EnumerationResults>")});
  auto store = Open("az://data", Options(server.endpoint()));
  EXPECT_EQ(store->Stat("az://data/%2e%2e/x y").status().code(), StatusCode::kNotFound);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_TRUE(requests[0].starts_with("HEAD /acct/data/%252e%252e/x%20y ")) << requests[0];
  EXPECT_NE(requests[0].find("Authorization: SharedKey acct:"), std::string::npos);
  EXPECT_NE(requests[0].find("x-ms-version: "), std::string::npos);
  EXPECT_EQ(requests[0].find(kKey), std::string::npos);
  EXPECT_NE(requests[1].find("prefix=%252e%252e%2Fx%20y%2F"), std::string::npos) << requests[1];
}

TEST(AzureSecurityTest, DeniedAnswersNeverCarryTheKeyOrSas) {
  // A hostile or buggy server echoing secrets back in its error message.
  const std::string body = std::string("<Error><Code>AuthorizationFailure</Code><Message>bad ") +
                           kKey + " sig=" + kSasSig + " sv=2021&sig=" + kSasSig +
                           "</Message></Error>";
  {
    ScriptedHttpServer server({ScriptedHttpServer::Response(403, body)});
    auto store = Open("az://data", Options(server.endpoint()));
    std::vector<std::byte> buf(8);
    auto got = store->ReadRange("az://data/x", "", 0, buf);
    ASSERT_EQ(got.status().code(), StatusCode::kPermissionDenied);
    const std::string msg(got.status().message());
    EXPECT_EQ(msg.find(kKey), std::string::npos) << msg;
    EXPECT_NE(msg.find("acct"), std::string::npos) << msg;
    EXPECT_NE(msg.find("AuthorizationFailure"), std::string::npos) << msg;
  }
  {
    ScriptedHttpServer server({ScriptedHttpServer::Response(403, body)});
    UnderStoreOptions o = Options(server.endpoint());
    o.azure.account_key.clear();
    o.azure.sas_token = std::string("?sv=2021&sig=") + kSasSig;
    auto store = Open("az://data", o);
    std::vector<std::byte> buf(8);
    auto got = store->ReadRange("az://data/x", "", 0, buf);
    ASSERT_EQ(got.status().code(), StatusCode::kPermissionDenied);
    EXPECT_EQ(std::string(got.status().message()).find(kSasSig), std::string::npos)
        << got.status().message();
    const auto requests = server.requests();
    ASSERT_EQ(requests.size(), 1U);
    // The SAS travels in the query string, never as a Shared Key header.
    EXPECT_NE(requests[0].find(std::string("sig=") + kSasSig), std::string::npos);
    EXPECT_EQ(requests[0].find("Authorization:"), std::string::npos);
  }
}

TEST(AzureSecurityTest, RedirectIsNotFollowed) {
  ScriptedHttpServer elsewhere({ScriptedHttpServer::Response(200, "ELSEWHERE-BYTES")});
  ScriptedHttpServer azure({ScriptedHttpServer::Response(
      307, "REDIRECT-BODY", "Location: " + elsewhere.endpoint() + "/acct/data/x\r\n")});
  auto store = Open("az://data", Options(azure.endpoint()));
  std::vector<std::byte> buf(32);
  auto got = store->ReadRange("az://data/x", "", 0, buf);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(std::string(got.status().message()).find("redirects are not followed"),
            std::string::npos);
  EXPECT_TRUE(elsewhere.requests().empty());
}

TEST(AzureSecurityTest, PreconditionFailedIsChanged) {
  ScriptedHttpServer server({ScriptedHttpServer::Response(
      412, "<Error><Code>ConditionNotMet</Code><Message>m</Message></Error>")});
  auto store = Open("az://data", Options(server.endpoint()));
  std::vector<std::byte> buf(8);
  auto got = store->ReadRange("az://data/x", "0x8D1", 0, buf);
  EXPECT_EQ(got.status().code(), StatusCode::kChanged) << got.status().ToString();
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1U);
  EXPECT_NE(requests[0].find("If-Match: \"0x8D1\""), std::string::npos) << requests[0];
  EXPECT_NE(requests[0].find("x-ms-range: bytes=0-7"), std::string::npos) << requests[0];
}

TEST(AzureSecurityTest, ServerBusyIsRetried) {
  ScriptedHttpServer server(
      {ScriptedHttpServer::Response(503, "<Error><Code>ServerBusy</Code></Error>"),
       ScriptedHttpServer::Response(206, "abcd")});
  auto store = Open("az://data", Options(server.endpoint()));
  std::vector<std::byte> buf(4);
  auto got = store->ReadRange("az://data/x", "", 0, buf);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, 4U);
  EXPECT_EQ(store->retries(), 1U);
}

TEST(AzureSecurityTest, AnAzureAdTokenIsABearerHeaderNeverEchoedAndOnlyOverHttps) {
  constexpr const char* kToken = "AADTOKENVALUE.eyJhbGciOi";
  ASSERT_EQ(setenv("AZURE_STORAGE_TOKEN", kToken, 1), 0);  // NOLINT(concurrency-mt-unsafe)
  ScriptedHttpServer server({ScriptedHttpServer::Response(
      403, std::string("<Error><Code>AuthorizationPermissionMismatch</Code><Message>") + kToken +
               "</Message></Error>")});
  UnderStoreOptions o = Options(server.endpoint());
  o.azure.account_key.clear();
  auto store = AzureUnderStore::Open("az://data", o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->credential_source(), "Azure AD token");
  std::vector<std::byte> buf(8);
  auto got = (*store)->ReadRange("az://data/x", "", 0, buf);
  ASSERT_EQ(got.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(std::string(got.status().message()).find(kToken), std::string::npos);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1U);
  EXPECT_NE(requests[0].find(std::string("Authorization: Bearer ") + kToken), std::string::npos);

  o.azure.endpoint_url = "http://blob.example.com/acct";  // not loopback, not https
  auto refused = AzureUnderStore::Open("az://data", o);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(refused.status().message()).find(kToken), std::string::npos);
  ASSERT_EQ(unsetenv("AZURE_STORAGE_TOKEN"), 0);  // NOLINT(concurrency-mt-unsafe)
}

TEST(AzureSecurityTest, AMalformedConnectionStringNamesNoSecret) {
  UnderStoreOptions o;
  o.azure.connection_string = "AccountName=acct;AccountKey=TOPSECRET;DefaultEndpointsProtocol=ftp";
  auto store = AzureUnderStore::Open("az://data", o);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(std::string(store.status().message()).find("TOPSECRET"), std::string::npos);
}

}  // namespace
}  // namespace epochcache
