#include "protocol/target.h"

#include "protocol/percent.h"

namespace epochcache::protocol {

std::string BuildTarget(std::string_view endpoint,
                        const std::vector<std::pair<std::string_view, std::string_view>>& params) {
  std::string out(endpoint);
  char separator = '?';
  for (const auto& [name, value] : params) {
    out.push_back(separator);
    out += PercentEncode(name);
    out.push_back('=');
    out += PercentEncode(value);
    separator = '&';
  }
  return out;
}

Result<RequestTarget> ParseTarget(std::string_view target) {
  RequestTarget out;
  const auto question = target.find('?');
  out.path = std::string(target.substr(0, question));
  if (question == std::string_view::npos) return out;
  std::string_view query = target.substr(question + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    EC_ASSIGN_OR_RETURN(std::string key, PercentDecode(pair.substr(0, eq)));
    std::string value;
    if (eq != std::string_view::npos) {
      EC_ASSIGN_OR_RETURN(value, PercentDecode(pair.substr(eq + 1)));
    }
    out.params.insert_or_assign(std::move(key), std::move(value));
  }
  return out;
}

}  // namespace epochcache::protocol
