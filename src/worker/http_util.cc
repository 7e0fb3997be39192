#include "worker/http_util.h"

#include <charconv>
#include <nlohmann/json.hpp>

namespace epochcache::worker {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr std::string_view kWorkerBusy = "worker busy: ";

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

Result<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) {
      return Status::InvalidArgument("truncated percent-escape in '" + std::string(text) + "'");
    }
    const int hi = HexValue(text[i + 1]);
    const int lo = HexValue(text[i + 2]);
    if (hi < 0 || lo < 0) {
      return Status::InvalidArgument("bad percent-escape in '" + std::string(text) + "'");
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
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

unsigned HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kChanged:
      return 409;
    case StatusCode::kIoError:
      return 502;
    case StatusCode::kUnavailable:
    case StatusCode::kRejected:
    // The worker gave up on the request (shutting down, a deadline): another worker may not.
    case StatusCode::kCancelled:
      return 503;
    case StatusCode::kTimeout:
      return 504;
    case StatusCode::kChecksumError:
    case StatusCode::kInternal:
      return 500;
  }
  return 500;
}

Status WorkerBusy(std::string_view what) {
  return Status::Unavailable(std::string(kWorkerBusy) + std::string(what));
}

bool IsWorkerBusy(const Status& status) {
  return status.code() == StatusCode::kUnavailable && status.message().starts_with(kWorkerBusy);
}

std::string ErrorJson(const Status& status) {
  const nlohmann::json body = {{"error", std::string(StatusCodeName(status.code()))},
                               {"message", status.message()}};
  // Replace invalid UTF-8 (a path is arbitrary bytes) rather than throw.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace epochcache::worker
