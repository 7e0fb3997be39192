// `--log-format json`: each log line one JSON object {"time", "level", "message"}, for log
// shippers that would otherwise have to parse the text pattern.
#pragma once

#include <spdlog/formatter.h>

#include <memory>

namespace epochcache::cli {

class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override;
};

}  // namespace epochcache::cli
