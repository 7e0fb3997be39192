// Which worker serves a piece of a file.
//
// For now the workers are a static list and each piece goes to the worker with the highest
// rendezvous (highest-random-weight) score for (path, piece index), so one large file is spread
// over all workers and adding or removing one worker only moves the pieces it wins or owned.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace epochcache::client {

class Placement {
 public:
  // REQUIRES: !hosts.empty().
  explicit Placement(std::vector<std::string> hosts);

  // The worker for piece `piece` of `path`.
  [[nodiscard]] const std::string& Pick(std::string_view path, std::uint64_t piece) const;
  // The worker asked for metadata (stat, list) of `path`.
  [[nodiscard]] const std::string& PickForMetadata(std::string_view path) const;

  [[nodiscard]] const std::vector<std::string>& hosts() const { return hosts_; }

 private:
  std::vector<std::string> hosts_;
  std::vector<std::uint64_t> host_hashes_;
};

}  // namespace epochcache::client
