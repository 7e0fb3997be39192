#include "common/sizes.h"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

namespace epochcache {
namespace {

struct Unit {
  std::string_view name;
  double factor;
};

constexpr double kKi = 1024.0;
constexpr std::array kUnits = {
    Unit{"", 1},
    Unit{"b", 1},
    Unit{"k", kKi},
    Unit{"kb", 1e3},
    Unit{"kib", kKi},
    Unit{"m", kKi* kKi},
    Unit{"mb", 1e6},
    Unit{"mib", kKi* kKi},
    Unit{"g", kKi* kKi* kKi},
    Unit{"gb", 1e9},
    Unit{"gib", kKi* kKi* kKi},
    Unit{"t", kKi* kKi* kKi* kKi},
    Unit{"tb", 1e12},
    Unit{"tib", kKi* kKi* kKi* kKi},
};

std::string Lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c)) == 0) {
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  return out;
}

}  // namespace

Result<std::uint64_t> ParseSize(std::string_view text) {
  const std::string s = Lower(text);
  std::size_t num_end = 0;
  while (num_end < s.size() &&
         ((std::isdigit(static_cast<unsigned char>(s[num_end])) != 0) || s[num_end] == '.')) {
    ++num_end;
  }
  if (num_end == 0) {
    return Status::InvalidArgument(
        fmt::format("'{}' is not a size: expected a number with an optional unit such as "
                    "10GiB, 512MB or 4096",
                    text));
  }
  double value = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + num_end, value);
  if (ec != std::errc() || ptr != s.data() + num_end) {
    return Status::InvalidArgument(fmt::format("'{}' is not a size: bad number", text));
  }
  const std::string_view unit = std::string_view(s).substr(num_end);
  for (const auto& u : kUnits) {
    if (u.name == unit) {
      const double bytes = std::round(value * u.factor);
      if (bytes >= 18446744073709551615.0) {
        return Status::InvalidArgument(fmt::format("'{}' is too large a size", text));
      }
      return static_cast<std::uint64_t>(bytes);
    }
  }
  return Status::InvalidArgument(fmt::format(
      "'{}' has an unknown size unit '{}': use B, KiB, MiB, GiB, TiB (or KB, MB, GB, TB)", text,
      unit));
}

std::string FormatSize(std::uint64_t bytes) {
  constexpr std::array<std::string_view, 5> kNames = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= kKi && unit + 1 < kNames.size()) {
    value /= kKi;
    ++unit;
  }
  if (unit == 0) return fmt::format("{} B", bytes);
  return fmt::format("{:.1f} {}", value, kNames[unit]);
}

}  // namespace epochcache
