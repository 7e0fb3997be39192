// Status and Result<T>: how every I/O path in epochcache reports failure.
//
// No exceptions cross an I/O path: functions that can fail return Status (no value) or
// Result<T> (a value or a Status). Codes mean cache things, so that callers can decide what
// to do (retry, fall back to the under store, surface to the user) without parsing messages.
//
// Messages name what was wrong (the URI, the flag, the byte range) and never carry secrets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace epochcache {

enum class StatusCode : std::uint8_t {
  kOk = 0,
  kNotFound,          // the path does not exist in the under store (or the cache, for a page)
  kInvalidArgument,   // the caller's input is malformed (bad range, bad flag, bad URI)
  kPermissionDenied,  // the under store refused, or the path escapes the under-store root
  kTimeout,           // a deadline passed
  kUnavailable,       // a peer (worker, under store) cannot be reached right now; retryable
  kIoError,           // a local or remote read/write failed
  kChecksumError,     // a cached page failed verification; it is dropped and refetched
  kRejected,          // the cache declined to admit (capacity, policy); not a read failure
  kChanged,           // the remote object changed while being read (version mismatch)
  kInternal,          // a bug: an invariant did not hold
  kUnauthenticated,   // the caller did not present a valid token (HTTP 401)
  kCancelled,         // the operation was abandoned before it finished (its caller gave up)
};

// Returns a stable lower_snake name ("not_found"), used in JSON errors and metrics labels.
std::string_view StatusCodeName(StatusCode code);
// Inverse of StatusCodeName; unknown names map to kInternal.
StatusCode StatusCodeFromName(std::string_view name);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status InvalidArgument(std::string msg) {
    return {StatusCode::kInvalidArgument, std::move(msg)};
  }
  static Status PermissionDenied(std::string msg) {
    return {StatusCode::kPermissionDenied, std::move(msg)};
  }
  static Status Timeout(std::string msg) { return {StatusCode::kTimeout, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
  static Status IoError(std::string msg) { return {StatusCode::kIoError, std::move(msg)}; }
  static Status ChecksumError(std::string msg) {
    return {StatusCode::kChecksumError, std::move(msg)};
  }
  static Status Rejected(std::string msg) { return {StatusCode::kRejected, std::move(msg)}; }
  static Status Changed(std::string msg) { return {StatusCode::kChanged, std::move(msg)}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }
  static Status Unauthenticated(std::string msg) {
    return {StatusCode::kUnauthenticated, std::move(msg)};
  }
  static Status Cancelled(std::string msg) { return {StatusCode::kCancelled, std::move(msg)}; }

  [[nodiscard]] bool ok() const { return code_ == StatusCode::kOk; }
  [[nodiscard]] StatusCode code() const { return code_; }
  [[nodiscard]] const std::string& message() const { return message_; }
  // "not_found: /data/x.parquet does not exist"
  [[nodiscard]] std::string ToString() const;

  // Returns a copy whose message is prefixed with `context + ": "`.
  [[nodiscard]] Status WithContext(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// A value of T, or the Status saying why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const { return std::holds_alternative<T>(v_); }
  // REQUIRES: !ok() for a meaningful status; returns OK when a value is held.
  [[nodiscard]] Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

  // REQUIRES: ok().
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace epochcache

#define EC_CONCAT_INNER(a, b) a##b
#define EC_CONCAT(a, b) EC_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` (a Status) is not OK.
#define EC_RETURN_IF_ERROR(expr)              \
  do {                                        \
    ::epochcache::Status ec_status_ = (expr); \
    if (!ec_status_.ok()) return ec_status_;  \
  } while (false)

// `lhs` is a declaration ("auto x"), so it cannot be parenthesised.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define EC_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()

// `EC_ASSIGN_OR_RETURN(auto x, Foo());` declares x from a Result, or returns its Status.
#define EC_ASSIGN_OR_RETURN(lhs, expr) \
  EC_ASSIGN_OR_RETURN_IMPL(EC_CONCAT(ec_result_, __LINE__), lhs, expr)
// NOLINTEND(bugprone-macro-parentheses)
