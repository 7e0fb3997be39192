// Request targets ("/v1/read?path=%2Fa&version=3"): built by the client, parsed by the worker,
// with the one percent coding of percent.h on both sides.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "epochcache/status.h"

namespace epochcache::protocol {

// `endpoint` followed by "?name=value&..." with every name and value percent-encoded, in the
// order given; just `endpoint` when there are no parameters.
std::string BuildTarget(std::string_view endpoint,
                        const std::vector<std::pair<std::string_view, std::string_view>>& params);

// A request target split into its endpoint path and decoded parameters (a repeated parameter
// keeps its last value). Each name and value is decoded exactly once, here; nothing downstream
// decodes again. The endpoint path is not decoded.
struct RequestTarget {
  std::string path;
  std::map<std::string, std::string, std::less<>> params;
};
Result<RequestTarget> ParseTarget(std::string_view target);

}  // namespace epochcache::protocol
