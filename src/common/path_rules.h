// The one rule for what a path inside an under store may look like, checked by the worker
// before anything else sees a path and again by every under store before a byte goes upstream.
//
// A path reaches these checks decoded exactly once (the worker decodes its query string; no
// layer decodes again). Every spelling a later layer could collapse or reinterpret is refused
// rather than normalised: libcurl collapses "/../" and "/./", a filesystem resolves ".", a URL
// parser ends a path at '?' or '#'. So a containment check on the checked text is a check on
// what is actually sent upstream, and one object has one spelling (a cache keyed by path cannot
// be grown by respelling it).
#pragma once

#include <string_view>

#include "epochcache/status.h"

namespace epochcache {

// Checks the path part of an under-store URI: "/data/x", "file:///data/x", "s3://bucket/key",
// "http://host/prefix/key". PermissionDenied (naming the offending part: such a path is a
// request to go where the root does not allow, answered 403 by the worker) for:
//   - an empty, "." or ".." segment ("a//b", "a/./b", "a/../b"); one trailing '/' is allowed,
//     since "dir/" is how object stores spell a directory;
//   - '?' or '#' anywhere in the path, and '?', '#', '@' or '\' in the authority;
//   - NUL or any other ASCII control character (0x00-0x1f, 0x7f) anywhere.
Status CheckUnderPath(std::string_view uri);

}  // namespace epochcache
