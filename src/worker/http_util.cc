#include "worker/http_util.h"

#include <charconv>

namespace epochcache::worker {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<std::uint64_t> ParseDecimal(std::string_view text) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

Result<RangeSpec> ParseRange(std::string_view header) {
  const auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("bad Range header '" + std::string(header) +
                                   "': " + std::string(why));
  };
  std::string_view spec = Trim(header);
  constexpr std::string_view kUnit = "bytes=";
  if (spec.size() < kUnit.size() || spec.substr(0, kUnit.size()) != kUnit) {
    return bad("expected bytes=START-END");
  }
  spec = Trim(spec.substr(kUnit.size()));
  if (spec.find(',') != std::string_view::npos) return bad("only one range is supported");
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos) return bad("expected bytes=START-END");
  const std::string_view first = Trim(spec.substr(0, dash));
  const std::string_view last = Trim(spec.substr(dash + 1));
  RangeSpec range;
  if (first.empty()) {
    auto suffix = ParseDecimal(last);
    if (!suffix) return bad("expected bytes=-SUFFIX");
    range.kind = RangeSpec::Kind::kSuffix;
    range.suffix = *suffix;
    return range;
  }
  auto start = ParseDecimal(first);
  if (!start) return bad("START is not a number");
  range.first = *start;
  if (last.empty()) {
    range.kind = RangeSpec::Kind::kFrom;
    return range;
  }
  auto end = ParseDecimal(last);
  if (!end) return bad("END is not a number");
  if (*end < *start) return bad("END is before START");
  range.kind = RangeSpec::Kind::kFromTo;
  range.last = *end;
  return range;
}

std::optional<ByteSpan> ResolveRange(const RangeSpec& range, std::uint64_t size) {
  switch (range.kind) {
    case RangeSpec::Kind::kSuffix: {
      if (range.suffix == 0 || size == 0) return std::nullopt;
      const std::uint64_t length = std::min(range.suffix, size);
      return ByteSpan{size - length, length};
    }
    case RangeSpec::Kind::kFrom:
      if (range.first >= size) return std::nullopt;
      return ByteSpan{range.first, size - range.first};
    case RangeSpec::Kind::kFromTo:
      if (range.first >= size) return std::nullopt;
      return ByteSpan{range.first, std::min(range.last, size - 1) - range.first + 1};
  }
  return std::nullopt;
}

}  // namespace epochcache::worker
