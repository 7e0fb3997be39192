#include "understore/azure_xml.h"

#include <fmt/format.h>

#include <charconv>
#include <pugixml.hpp>

#include "common/curl_http.h"
#include "common/http_date.h"
#include "understore/s3_xml.h"

namespace epochcache {
namespace {

Result<std::string> Name(const pugi::xml_node& node) {
  const pugi::xml_node name = node.child("Name");
  if (!name) return Status::InvalidArgument("List Blobs answer: an entry without <Name>");
  const std::string_view text = name.text().as_string();
  if (std::string_view(name.attribute("Encoded").as_string()) == "true") {
    return PercentDecode(text);
  }
  return std::string(text);
}

}  // namespace

Result<AzureListPage> ParseAzureListBlobs(std::string_view xml) {
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size())) {
    return Status::InvalidArgument("List Blobs answer is not well-formed XML");
  }
  const pugi::xml_node root = doc.child("EnumerationResults");
  if (!root) return Status::InvalidArgument("List Blobs answer has no <EnumerationResults>");
  AzureListPage page;
  const pugi::xml_node blobs = root.child("Blobs");
  for (const pugi::xml_node& node : blobs.children("Blob")) {
    AzureBlob blob;
    EC_ASSIGN_OR_RETURN(blob.name, Name(node));
    const pugi::xml_node props = node.child("Properties");
    const std::string_view size = props.child("Content-Length").text().as_string();
    const auto [end, ec] = std::from_chars(size.data(), size.data() + size.size(), blob.size);
    if (size.empty() || ec != std::errc() || end != size.data() + size.size()) {
      return Status::InvalidArgument(
          fmt::format("List Blobs answer: blob '{:.200}' has no valid Content-Length", blob.name));
    }
    blob.etag = StripQuotes(props.child("Etag").text().as_string());
    blob.mtime_ns = HttpDateNs(props.child("Last-Modified").text().as_string());
    page.blobs.push_back(std::move(blob));
  }
  for (const pugi::xml_node& node : blobs.children("BlobPrefix")) {
    EC_ASSIGN_OR_RETURN(std::string name, Name(node));
    page.prefixes.push_back(std::move(name));
  }
  page.next_marker = root.child("NextMarker").text().as_string();
  return page;
}

AzureError ParseAzureError(std::string_view xml) {
  AzureError err;
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size())) return err;
  const pugi::xml_node node = doc.child("Error");
  err.code = node.child("Code").text().as_string();
  err.message = node.child("Message").text().as_string();
  if (const auto nl = err.message.find_first_of("\r\n"); nl != std::string::npos) {
    err.message.resize(nl);
  }
  return err;
}

}  // namespace epochcache
