#include "cli/flag_parsing.h"

#include <cmath>
#include <cstdlib>
#include <string>

#include "common/sizes.h"

namespace epochcache::cli {

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  const std::string s(text);
  const char* begin = s.c_str();
  char* end = nullptr;
  const double value = std::strtod(begin, &end);
  if (end == begin || !std::isfinite(value) || value < 0) {
    return Status::InvalidArgument("'" + s + "' is not a duration (like 10s, 500ms, 2m)");
  }
  const std::string_view unit = std::string_view(s).substr(static_cast<std::size_t>(end - begin));
  double ms_per_unit = 0;
  if (unit.empty() || unit == "s") {
    ms_per_unit = 1000;
  } else if (unit == "ms") {
    ms_per_unit = 1;
  } else if (unit == "m" || unit == "min") {
    ms_per_unit = 60 * 1000;
  } else if (unit == "h") {
    ms_per_unit = 3600 * 1000;
  } else {
    return Status::InvalidArgument("'" + s + "' has an unknown unit (use ms, s, m or h)");
  }
  return std::chrono::milliseconds(std::llround(value * ms_per_unit));
}

Result<std::uint64_t> ParseSizeFlag(std::string_view flag, std::string_view text) {
  auto size = ParseSize(text);
  if (!size.ok()) return size.status().WithContext(flag);
  return size;
}

Result<std::chrono::milliseconds> ParseDurationFlag(std::string_view flag, std::string_view text) {
  auto duration = ParseDuration(text);
  if (!duration.ok()) return duration.status().WithContext(flag);
  return duration;
}

CLI::Validator SizeValue() {
  return {[](std::string& text) -> std::string {
            auto size = ParseSize(text);
            return size.ok() ? std::string() : size.status().message();
          },
          "SIZE"};
}

CLI::Validator DurationValue() {
  return {[](std::string& text) -> std::string {
            auto duration = ParseDuration(text);
            return duration.ok() ? std::string() : duration.status().message();
          },
          "DURATION"};
}

}  // namespace epochcache::cli
