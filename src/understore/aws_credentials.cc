#include "understore/aws_credentials.h"

#include <fmt/format.h>

#include <boost/property_tree/ini_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace epochcache {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read-only at start
  return v != nullptr ? std::string(v) : std::string();
}

std::string HomeFile(const char* env_override, const char* relative) {
  std::string explicit_path = Env(env_override);
  if (!explicit_path.empty()) return explicit_path;
  const std::string home = Env("HOME");
  return home.empty() ? std::string() : home + "/" + relative;
}

// Reads one section of an INI file; a missing file or section is not an error.
Result<boost::property_tree::ptree> ReadSection(const std::string& path, const std::string& section,
                                                bool must_exist) {
  boost::property_tree::ptree tree;
  std::error_code ec;  // the throwing overload would escape on, say, an unreadable $HOME
  if (path.empty() || !std::filesystem::exists(path, ec)) {
    if (must_exist) return Status::NotFound(fmt::format("AWS file {} does not exist", path));
    return boost::property_tree::ptree{};
  }
  try {
    boost::property_tree::ini_parser::read_ini(path, tree);
  } catch (const boost::property_tree::file_parser_error& e) {
    // e.message() names the problem ("'=' character not found in line"), never the line's
    // text, which may hold a secret.
    return Status::InvalidArgument(
        fmt::format("cannot parse AWS file {} line {}: {}", path, e.line(), e.message()));
  }
  // Section names such as "profile a.b" may contain dots: no path separator.
  if (auto child = tree.get_child_optional(boost::property_tree::ptree::path_type(section, '\0'))) {
    return *child;
  }
  return boost::property_tree::ptree{};
}

}  // namespace

Result<AwsCredentials> ResolveAwsCredentials(const S3Options& options) {
  AwsCredentials out;
  std::string profile = options.profile.empty() ? Env("AWS_PROFILE") : options.profile;
  if (profile.empty()) profile = "default";

  if (!options.access_key_id.empty()) {
    out.access_key_id = options.access_key_id;
    out.secret_access_key = options.secret_access_key;
    out.session_token = options.session_token;
    out.source = "options";
  } else if (!Env("AWS_ACCESS_KEY_ID").empty()) {
    out.access_key_id = Env("AWS_ACCESS_KEY_ID");
    out.secret_access_key = Env("AWS_SECRET_ACCESS_KEY");
    out.session_token = Env("AWS_SESSION_TOKEN");
    out.source = "environment";
  } else if (!options.anonymous) {
    const std::string creds_file = HomeFile("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
    EC_ASSIGN_OR_RETURN(auto section, ReadSection(creds_file, profile,
                                                  !Env("AWS_SHARED_CREDENTIALS_FILE").empty()));
    out.access_key_id = section.get("aws_access_key_id", "");
    out.secret_access_key = section.get("aws_secret_access_key", "");
    out.session_token = section.get("aws_session_token", "");
    if (!out.access_key_id.empty()) out.source = "profile " + profile;
  }
  if (options.anonymous) {
    out.access_key_id.clear();
    out.secret_access_key.clear();
    out.session_token.clear();
  }
  if (out.access_key_id.empty()) out.source = "anonymous";

  out.region = options.region;
  if (out.region.empty()) out.region = Env("AWS_REGION");
  if (out.region.empty()) out.region = Env("AWS_DEFAULT_REGION");
  if (out.region.empty()) {
    const std::string config_file = HomeFile("AWS_CONFIG_FILE", ".aws/config");
    const std::string section = profile == "default" ? "default" : "profile " + profile;
    EC_ASSIGN_OR_RETURN(auto cfg,
                        ReadSection(config_file, section, !Env("AWS_CONFIG_FILE").empty()));
    out.region = cfg.get("region", "");
  }
  if (out.region.empty()) out.region = "us-east-1";
  return out;
}

}  // namespace epochcache
