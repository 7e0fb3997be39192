#include "cli/worker_config.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <toml++/toml.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "understore/multi_root_under_store.h"

namespace epochcache::cli {
namespace {

constexpr std::string_view kRedacted = "<redacted>";

std::string Normalize(std::string_view key) {
  std::string out(key);
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

// Plural spellings read naturally for repeatable flags in a file.
std::string Canonical(std::string_view key) {
  std::string out = Normalize(key);
  if (out == "cache_dirs") return "cache_dir";
  return out;
}

class ConfigError {
 public:
  explicit ConfigError(std::string path) : path_(std::move(path)) {}
  [[nodiscard]] Status At(const toml::node& node, std::string_view key,
                          std::string_view what) const {
    return Status::InvalidArgument(
        fmt::format("{}:{}: key '{}': {}", path_, node.source().begin.line, key, what));
  }

 private:
  std::string path_;
};

std::string_view TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    default:
      return "a date or time";
  }
}

// The strings a flag would have been given for `node`, or an error naming what was expected.
Result<std::vector<std::string>> FlagValues(const Setting& setting, const toml::node& node,
                                            std::string_view key, const ConfigError& error) {
  auto expected = [&](std::string_view what) {
    return error.At(node, key, fmt::format("expected {}, got {}", what, TypeName(node)));
  };
  return std::visit(
      [&](auto* target) -> Result<std::vector<std::string>> {
        using T = std::remove_pointer_t<decltype(target)>;
        if constexpr (std::is_same_v<T, std::string>) {
          if (!node.is_string()) return expected("a string");
          return std::vector<std::string>{**node.as_string()};
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          if (node.is_string()) return std::vector<std::string>{**node.as_string()};
          if (!node.is_array()) return expected("an array of strings");
          std::vector<std::string> out;
          for (const auto& item : *node.as_array()) {
            if (!item.is_string()) {
              return error.At(
                  item, key,
                  fmt::format("expected an array of strings, got {} in it", TypeName(item)));
            }
            out.push_back(**item.as_string());
          }
          if (out.empty()) return error.At(node, key, "must not be empty");
          return out;
        } else if constexpr (std::is_same_v<T, bool>) {
          if (!node.is_boolean()) return expected("true or false");
          return std::vector<std::string>{**node.as_boolean() ? "true" : "false"};
        } else {
          if (!node.is_integer()) return expected("an integer");
          return std::vector<std::string>{std::to_string(**node.as_integer())};
        }
      },
      setting.value);
}

// Feeds `values` through the flag's option: its conversion and validators, then its variable.
Status ApplyThroughOption(CLI::Option& option, std::vector<std::string> values,
                          const toml::node& node, std::string_view key, const ConfigError& error) {
  try {
    option.add_result(std::move(values));
    option.run_callback();
  } catch (const CLI::Error& e) {
    return error.At(node, key, e.what());
  }
  return Status::Ok();
}

Result<std::optional<std::string>> OptionalString(const toml::table& table, std::string_view name,
                                                  const ConfigError& error) {
  const toml::node* node = table.get(name);
  if (node == nullptr) return std::optional<std::string>();
  if (!node->is_string()) {
    return error.At(*node, fmt::format("under.{}", name),
                    fmt::format("expected a string, got {}", TypeName(*node)));
  }
  return std::optional<std::string>(**node->as_string());
}

Result<RootConfig> ParseRoot(const toml::node& node, const ConfigError& error) {
  RootConfig root;
  if (node.is_string()) {
    root.uri = **node.as_string();
    if (root.uri.empty()) return error.At(node, "under", "a root URI must not be empty");
    return root;
  }
  if (!node.is_table()) {
    return error.At(
        node, "under",
        fmt::format("expected a root URI or a table with 'uri', got {}", TypeName(node)));
  }
  const toml::table& table = *node.as_table();
  static const std::set<std::string, std::less<>> kKeys = {
      "uri",           "endpoint",          "region",       "profile", "addressing", "anonymous",
      "access_key_id", "secret_access_key", "session_token"};
  for (const auto& [name, value] : table) {
    if (!kKeys.contains(name.str())) {
      return error.At(value, fmt::format("under.{}", name.str()),
                      "unknown key (an [[under]] table takes uri, endpoint, region, profile, "
                      "addressing, anonymous, access_key_id, secret_access_key, session_token)");
    }
  }
  EC_ASSIGN_OR_RETURN(auto uri, OptionalString(table, "uri", error));
  if (!uri.has_value() || uri->empty()) return error.At(node, "under.uri", "missing or empty");
  root.uri = *uri;
  EC_ASSIGN_OR_RETURN(root.endpoint, OptionalString(table, "endpoint", error));
  EC_ASSIGN_OR_RETURN(root.region, OptionalString(table, "region", error));
  EC_ASSIGN_OR_RETURN(root.profile, OptionalString(table, "profile", error));
  EC_ASSIGN_OR_RETURN(root.addressing, OptionalString(table, "addressing", error));
  if (root.addressing && *root.addressing != "auto" && *root.addressing != "path" &&
      *root.addressing != "virtual") {
    return error.At(*table.get("addressing"), "under.addressing",
                    fmt::format("'{}' is not one of auto, path, virtual", *root.addressing));
  }
  EC_ASSIGN_OR_RETURN(root.access_key_id, OptionalString(table, "access_key_id", error));
  EC_ASSIGN_OR_RETURN(root.secret_access_key, OptionalString(table, "secret_access_key", error));
  EC_ASSIGN_OR_RETURN(root.session_token, OptionalString(table, "session_token", error));
  if (root.access_key_id.has_value() != root.secret_access_key.has_value()) {
    return error.At(node, "under.secret_access_key",
                    "access_key_id and secret_access_key go together");
  }
  if (const toml::node* anonymous = table.get("anonymous")) {
    if (!anonymous->is_boolean()) {
      return error.At(*anonymous, "under.anonymous",
                      fmt::format("expected true or false, got {}", TypeName(*anonymous)));
    }
    root.anonymous = **anonymous->as_boolean();
  }
  return root;
}

Result<std::vector<RootConfig>> ParseRoots(const toml::node& node, const ConfigError& error) {
  std::vector<RootConfig> roots;
  if (const toml::array* array = node.as_array()) {
    for (const auto& item : *array) {
      EC_ASSIGN_OR_RETURN(auto root, ParseRoot(item, error));
      roots.push_back(std::move(root));
    }
    return roots;
  }
  EC_ASSIGN_OR_RETURN(auto root, ParseRoot(node, error));
  roots.push_back(std::move(root));
  return roots;
}

// Keys in a file others can read are no longer secret: refused rather than used.
Status CheckSecretsArePrivate(const std::string& path, const std::vector<RootConfig>& roots) {
  const bool has_secret = std::any_of(roots.begin(), roots.end(), [](const RootConfig& root) {
    return root.secret_access_key.has_value() || root.session_token.has_value();
  });
  if (!has_secret) return Status::Ok();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Status::InvalidArgument(fmt::format("{}: cannot stat", path));
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return Status::InvalidArgument(fmt::format(
        "{} holds secret keys but other users may read it (mode {:o}): chmod 600 it, or use a "
        "profile or the AWS environment instead",
        path, st.st_mode & 0777));
  }
  return Status::Ok();
}

// User information removed from a URI, a "user:secret@host:port" address, or a comma-separated
// list of either (--etcd).
std::string Redacted(std::string_view text) {
  std::string out;
  for (std::size_t begin = 0; begin <= text.size();) {
    const auto comma = std::min(text.find(',', begin), text.size());
    const std::string_view item = text.substr(begin, comma - begin);
    std::string clean = WithoutUserInfo(item);
    if (item.find("://") == std::string_view::npos) {
      const auto at = item.rfind('@', item.find('/'));
      if (at != std::string_view::npos) clean = "***" + std::string(item.substr(at));
    }
    out += (begin == 0 ? "" : ",") + clean;
    begin = comma + 1;
  }
  return out;
}

std::string Quoted(std::string_view text) {
  std::ostringstream out;
  out << toml::value<std::string>(std::string(text));
  return out.str();
}

}  // namespace

std::string ConfigKey(const CLI::Option& option) {
  const auto& names = option.get_lnames();
  return Normalize(names.empty() ? option.get_name(false, false) : names.front());
}

Result<std::vector<RootConfig>> LoadWorkerConfig(const std::string& path,
                                                 const std::vector<Setting>& settings) {
  const ConfigError error(path);
  toml::table file;
  try {
    file = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return Status::InvalidArgument(
        fmt::format("{}:{}: {}", path, e.source().begin.line, e.description()));
  }
  std::map<std::string, const Setting*, std::less<>> by_key;
  for (const auto& setting : settings) by_key[ConfigKey(*setting.option)] = &setting;

  std::vector<RootConfig> roots;
  std::map<std::string, std::string, std::less<>> seen;  // canonical key -> spelling
  for (const auto& [name, node] : file) {
    const std::string key = Canonical(name.str());
    if (auto [it, fresh] = seen.emplace(key, name.str()); !fresh) {
      return error.At(node, name.str(), fmt::format("the same setting as '{}'", it->second));
    }
    if (key == "under") {
      EC_ASSIGN_OR_RETURN(roots, ParseRoots(node, error));
      continue;
    }
    const auto found = by_key.find(key);
    if (found == by_key.end()) {
      return error.At(node, name.str(),
                      "unknown key (keys are the flags of `epochcache worker --help` without "
                      "the leading dashes)");
    }
    const Setting& setting = *found->second;
    EC_ASSIGN_OR_RETURN(auto values, FlagValues(setting, node, name.str(), error));
    // A flag or EPOCHCACHE_* variable wins; its value is kept, the file's only checked above.
    if (setting.option->count() > 0) continue;
    EC_RETURN_IF_ERROR(
        ApplyThroughOption(*setting.option, std::move(values), node, name.str(), error));
  }
  EC_RETURN_IF_ERROR(CheckSecretsArePrivate(path, roots));
  return roots;
}

UnderStoreOptions RootStoreOptions(const UnderStoreOptions& global, const RootConfig& root) {
  UnderStoreOptions options = global;
  if (root.endpoint) options.s3.endpoint_url = *root.endpoint;
  if (root.region) options.s3.region = *root.region;
  if (root.profile) options.s3.profile = *root.profile;
  if (root.addressing) options.s3.addressing = *root.addressing;
  if (root.anonymous) options.s3.anonymous = *root.anonymous;
  if (root.access_key_id) options.s3.access_key_id = *root.access_key_id;
  if (root.secret_access_key) options.s3.secret_access_key = *root.secret_access_key;
  if (root.session_token) options.s3.session_token = *root.session_token;
  return options;
}

std::string FormatConfig(const std::vector<Setting>& settings,
                         const std::vector<RootConfig>& roots) {
  std::string out =
      "# The effective configuration of this worker (default < config file < EPOCHCACHE_* < "
      "flags).\n# Secrets are redacted: fill them in before using this as a config file.\n";
  for (const auto& setting : settings) {
    const std::string key = ConfigKey(*setting.option);
    if (key == "under") continue;  // as [[under]] tables below
    const std::string line = std::visit(
        [&](auto* target) -> std::string {
          using T = std::remove_pointer_t<decltype(target)>;
          if constexpr (std::is_same_v<T, std::string>) {
            if (target->empty()) return fmt::format("# {} is not set\n", key);
            return fmt::format("{} = {}\n", key, Quoted(Redacted(*target)));
          } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            std::string items;
            for (const auto& item : *target) {
              items += (items.empty() ? "" : ", ") + Quoted(Redacted(item));
            }
            return fmt::format("{} = [{}]\n", key, items);
          } else if constexpr (std::is_same_v<T, bool>) {
            return fmt::format("{} = {}\n", key, *target ? "true" : "false");
          } else {
            return fmt::format("{} = {}\n", key, *target);
          }
        },
        setting.value);
    out += line;
  }
  auto field = [](std::string_view name, const std::optional<std::string>& value, bool secret) {
    if (!value) return std::string();
    return fmt::format("{} = {}\n", name,
                       Quoted(secret ? std::string(kRedacted) : Redacted(*value)));
  };
  for (const auto& root : roots) {
    out += "\n[[under]]\nuri = " + Quoted(Redacted(root.uri)) + "\n";
    out += field("endpoint", root.endpoint, false);
    out += field("region", root.region, false);
    out += field("profile", root.profile, false);
    out += field("addressing", root.addressing, false);
    if (root.anonymous) out += fmt::format("anonymous = {}\n", *root.anonymous);
    out += field("access_key_id", root.access_key_id, true);
    out += field("secret_access_key", root.secret_access_key, true);
    out += field("session_token", root.session_token, true);
  }
  return out;
}

}  // namespace epochcache::cli
